import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir } from './harness/temp.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const depcruise = join(root, 'node_modules', '.bin', 'depcruise');
const config = join(root, '.dependency-cruiser.cjs');

/** Runs the dependency check the way `npm test` does, in `cwd`; its exit code and report. */
async function check(cwd: string): Promise<{ code: number; report: string }> {
  try {
    const { stdout } = await promisify(execFile)(depcruise, ['src', '--config', config, '--output-type', 'err'], { cwd });
    return { code: 0, report: stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, report: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** A little tree of its own, with the project's layer rules: each file is `path → imported paths`. */
function tree(files: Record<string, string[]>): string {
  const dir = tempDir('postern-layers-');
  writeFileSync(join(dir, 'tsconfig.check.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['src/**/*.ts'] }));
  for (const [path, imports] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    const lines = imports.map((to, i) => `import { x as x${i} } from '${to}';\nvoid x${i};`);
    writeFileSync(join(dir, path), `${lines.join('\n')}\nexport const x = 1;\n`);
  }
  return dir;
}

describe('layers (.dependency-cruiser.cjs)', () => {
  it('hold in the source tree: no layer imports one above it, and there are no cycles', async () => {
    const r = await check(root);
    expect(r.report).toContain('no dependency violations found');
    expect(r.code).toBe(0);
  });

  it('fail on a lower layer importing a higher one, naming the rule', async () => {
    const r = await check(tree({ 'src/storage/store.ts': ['../proxy/handler.js'], 'src/proxy/handler.ts': [] }));
    expect(r.code).not.toBe(0);
    expect(r.report).toMatch(/error layer-storage: src\/storage\/store\.ts → src\/proxy\/handler\.ts/);
  });

  it('allow a higher layer to import a lower one', async () => {
    const r = await check(tree({ 'src/proxy/handler.ts': ['../storage/store.js', '../errors/codes.js'], 'src/storage/store.ts': ['../errors/codes.js'], 'src/errors/codes.ts': [] }));
    expect(r.report).toContain('no dependency violations found');
  });

  it('fail on a cycle, even within one layer', async () => {
    const r = await check(tree({ 'src/proxy/a.ts': ['./b.js'], 'src/proxy/b.ts': ['./a.js'] }));
    expect(r.code).not.toBe(0);
    expect(r.report).toMatch(/error no-circular: src\/proxy\/a\.ts →/);
  });

  it('fail on a folder that has no place in the layers', async () => {
    const r = await check(tree({ 'src/newthing/x.ts': ['../errors/codes.js'], 'src/errors/codes.ts': [] }));
    expect(r.code).not.toBe(0);
    expect(r.report).toMatch(/error every-module-in-a-layer: src\/newthing\/x\.ts/);
  });
});
