import fc from 'fast-check';
import { stringify } from 'yaml';

/**
 * Input generators the fuzz targets share: byte strings edited the way a lying peer or a broken
 * edge edits them, and YAML that is almost right (random bytes are almost never YAML at all, so
 * they would test the YAML parser instead of the schema behind it).
 */

/** One edit of a byte string, at a position taken modulo its length so that it shrinks well. */
type Edit =
  | { op: 'set'; at: number; hot: boolean; byte: number }
  | { op: 'insert'; at: number; hot: boolean; bytes: Uint8Array }
  | { op: 'delete'; at: number; hot: boolean; count: number }
  | { op: 'truncate'; at: number; hot: boolean };

/** Byte values that matter in lengths and tags: zero, the DER long-form markers, the top of each range. */
const EDGE_BYTES = [0x00, 0x01, 0x02, 0x0d, 0x0a, 0x20, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0xff];

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), hot: fc.boolean(), byte: fc.oneof(fc.constantFrom(...EDGE_BYTES), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), hot: fc.boolean(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), hot: fc.boolean(), count: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat(), hot: fc.boolean() }),
);

/**
 * A value of `base` with 1-8 edits. `hot` names the offsets worth hitting in a base (where a
 * length or a tag sits); an edit goes there half the time instead of anywhere.
 */
export function mutated(base: fc.Arbitrary<Uint8Array>, hot: (bytes: Uint8Array) => readonly number[] = () => []): fc.Arbitrary<Uint8Array> {
  return fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: 8 })).map(([bytes, edits]) => {
    const offsets = hot(bytes);
    let out = Buffer.from(bytes);
    for (const e of edits) {
      const at = e.hot && offsets.length ? Math.min(offsets[e.at % offsets.length]!, out.length) : e.at % (out.length + 1);
      if (e.op === 'set') {
        if (at < out.length) out[at] = e.byte;
      } else if (e.op === 'insert') out = Buffer.concat([out.subarray(0, at), e.bytes, out.subarray(at)]);
      else if (e.op === 'delete') out = Buffer.concat([out.subarray(0, at), out.subarray(at + e.count)]);
      else out = out.subarray(0, at);
    }
    return new Uint8Array(out);
  });
}

/** `unit` repeated to `length` characters: long names without generating each character. */
export function long(unit: fc.Arbitrary<string>, min: number, max: number): fc.Arbitrary<string> {
  return fc.tuple(unit.filter((s) => s.length > 0), fc.integer({ min, max })).map(([s, n]) => s.repeat(Math.ceil(n / s.length)).slice(0, n));
}

/** Strings as an HTTP/2 header value arrives: bytes read as Latin-1 or as UTF-8 (never a lone surrogate). */
export const headerValue: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)) }),
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('utf8')),
  fc.array(fc.oneof(fc.constantFrom('%', '%2', '%zz', '%25', '%20', '%C3%A9', '%E0%A4', '%ED%A0%80', '%F4%90%80%80', '%C0%80', '%FF'), fc.string({ maxLength: 4 })), { maxLength: 8 }).map((parts) => parts.join('')),
);

/** The keys and the values written in a sample YAML text (commented ones too): what generated YAML picks from. */
export function keysAndValues(text: string): { keys: string[]; values: string[] } {
  const keys = new Set<string>();
  const values = new Set<string>();
  for (const [, key, value] of text.matchAll(/^[\s#-]*([A-Za-z_]+):[ \t]*([^#\n]*)/gm)) {
    keys.add(key!);
    if (value!.trim()) values.add(value!.trim());
  }
  return { keys: [...keys], values: [...values] };
}

/** YAML's own surprises: anchors and aliases, merge keys, tags, directives, flow and block scalars. */
const YAML_SPECIALS = [
  '', '~', 'null', 'yes', 'on', '0x1F', '0o17', '1e400', '-.inf', '.nan', '&a', '*a', '&a [1, 2]', '&a { x: 1 }', '*b', '<<: *a', '<<: 5',
  '!!binary aGk=', '!!set { a, b }', '!!omap [a: 1, a: 2]', '!!timestamp 2001-12-14', '!!int x', '!!map', '!!seq', '!<tag:yaml.org,2002:str> x', '!x y',
  '[a, b', '{ a: 1, a: 2 }', '"\\u0000\\ud800"', "'it''s'", '|', '>-', '? [a]', '#', '---', '...', '- ', '@', '`', '%', '\ufeff',
];

const PREFIXES = ['', '', '', '---\n', '%YAML 1.1\n---\n', '%YAML 1.2\n---\n', '%TAG ! tag:x,2024:\n---\n'];

/** Text line by line: an indent, a key from `keys` (or not), a separator and a value. */
export function yamlText(keys: readonly string[], values: readonly string[]): fc.Arbitrary<string> {
  const line = fc.tuple(
    fc.constantFrom('', '', '  ', '    ', '- ', '  - ', '\t'),
    fc.oneof({ arbitrary: fc.constantFrom(...keys), weight: 4 }, { arbitrary: fc.string({ maxLength: 6 }), weight: 1 }),
    fc.constantFrom(': ', ': ', ':', ' : ', ': |\n  ', ': >-\n  ', ''),
    fc.oneof({ arbitrary: fc.constantFrom(...values), weight: 3 }, { arbitrary: fc.constantFrom(...YAML_SPECIALS), weight: 2 }, { arbitrary: fc.string({ maxLength: 10 }), weight: 1 }),
  );
  return fc.tuple(fc.constantFrom(...PREFIXES), fc.array(line.map((parts) => parts.join('')), { maxLength: 24 })).map(([prefix, lines]) => prefix + lines.join('\n'));
}

/** Random trees of mappings and lists whose keys are mostly `keys`, written out as YAML. */
export function yamlTree(keys: readonly string[], values: readonly string[]): fc.Arbitrary<string> {
  const leaf = fc.oneof(fc.constantFrom(...values), fc.string({ maxLength: 10 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
  const key = fc.oneof({ arbitrary: fc.constantFrom(...keys), weight: 4 }, { arbitrary: fc.string({ maxLength: 6 }), weight: 1 });
  const { tree } = fc.letrec<{ tree: unknown }>((tie) => ({
    tree: fc.oneof({ depthSize: 'small' }, leaf, fc.dictionary(key, tie('tree'), { maxKeys: 6 }), fc.array(tie('tree'), { maxLength: 4 })),
  }));
  return tree.map((value) => stringify(value));
}

/** `text` with a few of its lines dropped, doubled, uncommented, re-indented or given another value. */
export function editedLines(text: string, values: readonly string[]): fc.Arbitrary<string> {
  const lines = text.split('\n');
  const lineEdit = fc.record({ line: fc.nat(lines.length - 1), op: fc.constantFrom('drop', 'double', 'uncomment', 'indent', 'outdent', 'value'), value: fc.constantFrom(...values, ...YAML_SPECIALS) });
  return fc.array(lineEdit, { minLength: 1, maxLength: 6 }).map((edits) => {
    const out = [...lines];
    for (const { line, op, value } of edits) {
      const at = line % out.length;
      const text = out[at]!;
      if (op === 'drop') out.splice(at, 1);
      else if (op === 'double') out.splice(at, 0, text);
      else if (op === 'uncomment') out[at] = text.replace(/^(\s*)# ?/, '$1');
      else if (op === 'indent') out[at] = `  ${text}`;
      else if (op === 'outdent') out[at] = text.replace(/^ {1,2}/, '');
      else out[at] = text.replace(/:.*$/, `: ${value}`);
      if (out.length === 0) out.push('');
    }
    return out.join('\n');
  });
}
