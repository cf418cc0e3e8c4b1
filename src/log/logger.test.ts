import { describe, expect, it } from 'vitest';
import { Logger } from './logger.js';

function capture(format: 'json' | 'text' = 'json', level: 'debug' | 'info' = 'info') {
  const lines: string[] = [];
  const log = new Logger({ level, format, sink: { write: (l) => lines.push(l) } });
  return { log, lines };
}

describe('logger', () => {
  it('writes one JSON object per line with child bindings', () => {
    const { log, lines } = capture();
    log.child({ component: 'proxy' }).child({ conn: 7 }).info('accepted', { remote: '10.0.0.1:5' });
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]!);
    expect(rec).toMatchObject({ level: 'info', msg: 'accepted', component: 'proxy', conn: 7, remote: '10.0.0.1:5' });
    expect(lines[0]!.endsWith('\n')).toBe(true);
  });

  it('redacts secret-looking fields at any depth', () => {
    const { log, lines } = capture();
    log.info('login', { user: 'alice', password: 'hunter2', nested: { token: 't', session_cookie: 'c', ca_pin: 'sha256:ab' }, private_key: 'k', key_pem: 'p', apiKey: 'a', keyPem: 'q', monkey: 'ok' });
    const rec = JSON.parse(lines[0]!);
    expect(rec.user).toBe('alice');
    expect(rec.password).toBe('[redacted]');
    expect(rec.private_key).toBe('[redacted]');
    for (const k of ['key_pem', 'apiKey', 'keyPem']) expect(rec[k]).toBe('[redacted]');
    expect(rec.monkey).toBe('ok');
    expect(rec.nested).toEqual({ token: '[redacted]', session_cookie: '[redacted]', ca_pin: 'sha256:ab' });
    expect(lines[0]).not.toContain('hunter2');
  });

  it('drops records below the level', () => {
    const { log, lines } = capture('json', 'info');
    log.debug('noise');
    log.warn('kept');
    expect(lines).toHaveLength(1);
  });

  it('prints errors with their message and code, and text lines for terminals', () => {
    const { log, lines } = capture('text');
    const err = Object.assign(new Error('boom'), { code: 'ECONNRESET' });
    log.child({ component: 'router' }).error('failed', { err });
    expect(lines[0]).toMatch(/ERROR \[router\] failed {2}err=\{"message":"boom","code":"ECONNRESET"\}/);
  });
});

describe('logger limits', () => {
  it('clips long messages, strings and lists, saying how much was left out', () => {
    const { log, lines } = capture();
    log.warn('x'.repeat(5000), { path: '/a'.repeat(10_000), offered: Array.from({ length: 10_000 }, (_, i) => `proto-${i}`), nested: { name: 'n'.repeat(3000) } });
    expect(lines[0]!.length).toBeLessThan(12_000);
    const rec = JSON.parse(lines[0]!);
    expect(rec.msg).toMatch(/^x{2048}… \(2952 more characters\)$/);
    expect(rec.path).toMatch(/… \(17952 more characters\)$/);
    expect(rec.offered).toHaveLength(65);
    expect(rec.offered.at(-1)).toBe('… (9936 more)');
    expect(rec.nested.name).toMatch(/… \(952 more characters\)$/);
  });
});
