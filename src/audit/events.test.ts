import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AUDIT_EVENTS } from './events.js';

describe('audit event types', () => {
  it('have unique codes of the form PA + four digits + I or W', () => {
    const codes = Object.values(AUDIT_EVENTS).map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect(code).toMatch(/^PA\d{4}[IW]$/);
  });

  it('docs/audit.md lists exactly the types of the table, with the same code and summary', () => {
    const doc = readFileSync(new URL('../../docs/audit.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| `([a-z.]+)` \| (PA\d{4}[IW]) \| (.+) \|$/gm)].map((m) => ({ event: m[1]!, code: m[2]!, summary: m[3]! }));
    const fromTable = Object.entries(AUDIT_EVENTS).map(([event, v]) => ({ event, code: v.code, summary: v.summary }));
    expect(rows).toEqual(fromTable);
  });
});
