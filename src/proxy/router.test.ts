import { describe, expect, it } from 'vitest';
import { PROTOCOLS } from '../wire/protocols.js';
import { Router, type ProtocolHandler } from './router.js';

const noop: ProtocolHandler = { handle() {} };

function router(...served: Parameters<Router['register']>[0][]): Router {
  const r = new Router();
  for (const id of served) r.register(id, noop);
  return r;
}

describe('protocol table', () => {
  it('names every ALPN once', () => {
    const names = PROTOCOLS.filter((p) => !p.sniPrefix).flatMap((p) => p.alpn);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('router', () => {
  it('prefers h2 over http/1.1 for the web, whatever order the client offers', () => {
    const r = router('web');
    expect(r.selectAlpn('postern.localhost', ['http/1.1', 'h2'])).toMatchObject({ ok: true, alpn: 'h2' });
    expect(r.selectAlpn(undefined, ['http/1.1'])).toMatchObject({ ok: true, alpn: 'http/1.1' });
  });

  it('selects a stream protocol and its -ping variant', () => {
    const r = router('web', 'ssh');
    expect(r.selectAlpn('postern.localhost', ['postern-ssh'])).toMatchObject({ ok: true, alpn: 'postern-ssh' });
    expect(r.resolve('postern.localhost', 'postern-ssh-ping')).toMatchObject({ protocol: { id: 'ssh' }, ping: true });
  });

  it('refuses a protocol in the table that nobody serves, naming it', () => {
    const decision = router('web').selectAlpn('postern.localhost', ['postern-ssh']);
    expect(decision).toEqual(expect.objectContaining({ ok: false, reason: 'protocol_unavailable' }));
    expect(!decision.ok && decision.message).toMatch(/postern-ssh \(SSH to a node\) is not available/);
  });

  it('refuses ALPN names that are not in the table', () => {
    const decision = router('web').selectAlpn('postern.localhost', ['spdy/3', 'imap']);
    expect(decision).toMatchObject({ ok: false, reason: 'unknown_alpn' });
    expect(!decision.ok && decision.message).toMatch(/"spdy\/3", "imap"/);
  });

  it('refuses an absurd ALPN list before looking at it, and quotes only a few of the names it refuses', () => {
    const many = Array.from({ length: 10_000 }, (_, i) => `x-${i}`);
    expect(router('web').selectAlpn('postern.localhost', [...many, 'h2'])).toMatchObject({ ok: false, reason: 'alpn_list_too_long', message: 'the client offered 10001 ALPN names; at most 32 are accepted' });
    const long = router('web').selectAlpn('postern.localhost', ['y'.repeat(200), ...many.slice(0, 20)]);
    expect(!long.ok && long.message).toBe(`no protocol of this proxy matches the client's ALPN "${'y'.repeat(40)}…", "x-0", "x-1", "x-2", "x-3" and 16 more`);
  });

  it('falls back to a served protocol when the client also offers an unserved one', () => {
    expect(router('web').selectAlpn('x', ['postern-tcp', 'http/1.1'])).toMatchObject({ ok: true, alpn: 'http/1.1' });
  });

  it('routes kube.* server names to Kubernetes by SNI, not ALPN', () => {
    expect(router('web').selectAlpn('kube.postern.localhost', ['h2'])).toMatchObject({ ok: false, reason: 'protocol_unavailable', protocol: { id: 'kube' } });
    expect(router('web', 'kube').selectAlpn('KUBE.postern.localhost', ['h2'])).toMatchObject({ ok: true, protocol: { id: 'kube' } });
    expect(router('web', 'kube').resolve('kube.x', false)).toMatchObject({ protocol: { id: 'kube' } });
  });

  it('sends clients that offer no ALPN to the web handler', () => {
    expect(router('web').resolve('postern.localhost', false)).toMatchObject({ protocol: { id: 'web' }, ping: false });
    expect(router('web').resolve(undefined, false)).toMatchObject({ protocol: { id: 'web' } });
  });

  it('lists the ALPN names it serves', () => {
    expect(router('web').served()).toEqual(['h2', 'http/1.1']);
    expect(router('web', 'tcp').served()).toEqual(['postern-tcp', 'h2', 'http/1.1']);
  });

  it('offers a -ping variant only when the handler speaks its keepalive framing', () => {
    const plain = router('tcp');
    expect(plain.selectAlpn('postern.localhost', ['postern-tcp-ping'])).toMatchObject({ ok: false, reason: 'protocol_unavailable' });
    const pinging = new Router();
    pinging.register('tcp', { handle() {}, ping: true });
    expect(pinging.selectAlpn('postern.localhost', ['postern-tcp-ping'])).toMatchObject({ ok: true, alpn: 'postern-tcp-ping' });
    expect(pinging.served()).toEqual(['postern-tcp', 'postern-tcp-ping']);
  });

  it('rejects registering a protocol outside the table', () => {
    expect(() => new Router().register('gopher' as never, noop)).toThrow(/not in the protocol table/);
  });
});
