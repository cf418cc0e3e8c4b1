/**
 * The layers of src/, lowest first (docs/architecture.md, "Layers"). A module may import its own
 * layer and any layer below it, never one above; and no import cycles anywhere. `npm test` runs
 * this check (test/layers.test.ts), which also shows that it fails on a wrong import.
 *
 * Tests (*.test.ts) are left out of the layer rules: they may compose anything, test helpers
 * included. They are still in the cycle check.
 */
const LAYERS = [
  ['errors', 'version.ts'],
  ['log'],
  ['wire'],
  ['pki'],
  ['net'],
  ['resources'],
  ['config'],
  ['storage'],
  ['audit'],
  ['policy'],
  ['auth'],
  ['access'],
  ['tunnel'],
  ['client'],
  ['admin', 'agent'],
  ['proxy'],
  ['diag', 'server', 'connect'],
  ['cli'],
];

const pathOf = (entries) => `^src/(${entries.map((e) => e.replace('.', '\\.')).join('|')})(/|$)`;

const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer.join('+')}`,
  comment: `${layer.join(', ')} may import only ${LAYERS.slice(0, i + 1).flat().join(', ')}`,
  severity: 'error',
  from: { path: pathOf(layer), pathNot: '\\.test\\.ts$' },
  to: { path: pathOf(LAYERS.slice(i + 1).flat()) },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      comment: 'Import cycles make the order of module start-up matter and hide which layer a module belongs to.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'every-module-in-a-layer',
      comment: 'A new top-level folder of src/ needs a place in LAYERS.',
      severity: 'error',
      from: { path: '^src/', pathNot: `${pathOf(LAYERS.flat())}|\\.test\\.ts$` },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.check.json' },
  },
};
