/**
 * The smallest string greater than every string that starts with `prefix`: a prefix range is
 * `key >= prefix AND key < prefixEnd(prefix)`, with keys compared by code point (SQLite's BINARY
 * collation, PostgreSQL's "C").
 */
export function prefixEnd(prefix: string): string {
  return prefix === '' ? '\u{10FFFF}' : prefix.slice(0, -1) + String.fromCodePoint(prefix.codePointAt(prefix.length - 1)! + 1);
}
