import { describe, expect, it } from 'vitest';
import { buildAuditEvent, seriesEncoder, type AuditEventInput, type SeriesFields } from './audit-log.js';

describe('seriesEncoder', () => {
  const time = new Date('2026-12-07T10:00:00.123Z');
  const base: AuditEventInput = { event: 'db.query', user: 'alice', remote_addr: '10.0.0.9', db: 'orders', db_user: 'alice', db_name: 'orders' };

  it('stores what buildAuditEvent makes of the base and the fields together, in the same order', () => {
    const encode = seriesEncoder(base);
    const cases: SeriesFields[] = [
      { query: 'select 1', protocol: 'simple' },
      { query: 'select $1 -- "quoted"\n\\ and a line', protocol: 'extended', parameters: 1 },
      { query: 'über 🐘', protocol: 'simple', parameters: undefined },
      {},
    ];
    for (const fields of cases) {
      const text = encode(fields, time, 'u-1');
      const expected = buildAuditEvent({ ...base, ...fields }, time, 'u-1');
      expect(text).toBe(JSON.stringify(expected));
    }
  });

  it('redacts secret-looking names, leaves out reserved names and those the base has, and drops values JSON cannot carry', () => {
    const encode = seriesEncoder({ ...base, token: 'x' });
    const stored = JSON.parse(encode({ password: 'hunter2', uid: 'forged', user: 'mallory', query: 'select 1', rows: Number.NaN }, time, 'u-2'));
    expect(stored).toEqual({ event: 'db.query', code: expect.any(String), time: time.toISOString(), uid: 'u-2', user: 'alice', remote_addr: '10.0.0.9', db: 'orders', db_user: 'alice', db_name: 'orders', token: '[redacted]', password: '[redacted]', query: 'select 1' });
  });

  it('refuses an unknown event type once, when the series is made', () => {
    expect(() => seriesEncoder({ event: 'db.teleport' } as unknown as AuditEventInput)).toThrow(/not an audit event type/);
  });
});
