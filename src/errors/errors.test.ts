import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from './codes.js';
import { PosternError } from './postern-error.js';

describe('error codes', () => {
  it('docs/errors.md lists exactly the codes of the table, with the same status and exit code', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| ([A-Z_]+) \| (\d+) \| (\d+) \| (.+) \|$/gm)].map((m) => ({
      code: m[1]!,
      status: Number(m[2]),
      exit: Number(m[3]),
      summary: m[4]!,
    }));
    const fromTable = Object.entries(ERROR_CODES).map(([code, v]) => ({ code, status: v.status, exit: v.exit, summary: v.summary }));
    expect(rows).toEqual(fromTable);
  });

  it('round-trips through the wire form', () => {
    const err = new PosternError('NOT_FOUND', 'no cluster here; run postern start first');
    const back = PosternError.fromJSON(JSON.parse(JSON.stringify(err.toJSON('r1'))));
    expect(back.code).toBe('NOT_FOUND');
    expect(back.message).toBe(err.message);
    expect(back.status).toBe(404);
    expect(back.exitCode).toBe(1);
  });

  it('turns an unreadable wire body into INTERNAL', () => {
    expect(PosternError.fromJSON({ error: { code: 'NOPE' } }).code).toBe('INTERNAL');
    expect(PosternError.fromJSON('garbage').code).toBe('INTERNAL');
  });
});
