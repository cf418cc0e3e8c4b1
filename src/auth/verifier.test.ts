import { X509Certificate, generateKeyPairSync, webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAuthority, issueCertificate, loadAuthority, type CertAuthority } from '../pki/authority.js';
import { EC_ALGORITHM } from '../pki/crypto.js';
import type { Identity } from '../pki/identity.js';
import { checkRouteScope, IdentityVerifier } from './verifier.js';

const user = await loadAuthority(await createAuthority('user', 'example.com'));
const host = await loadAuthority(await createAuthority('host', 'example.com'));
const otherCluster = await loadAuthority(await createAuthority('user', 'other.example.com'));

async function certFrom(ca: CertAuthority, kind: Identity['kind'], opts: { ttlMs?: number; name?: string; roles?: string[] } = {}): Promise<X509Certificate> {
  const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKey = await webcrypto.subtle.importKey('spki', keys.publicKey.export({ type: 'spki', format: 'der' }), EC_ALGORITHM, true, ['verify']);
  const cert = await issueCertificate(ca, { publicKey, commonName: opts.name ?? 'alice', ttlMs: opts.ttlMs ?? 3_600_000, usage: 'client', identity: { kind, roles: opts.roles ?? ['access'], traits: {} } });
  return new X509Certificate(cert.toString('pem'));
}

function verifier(): IdentityVerifier {
  return new IdentityVerifier({ authorities: { user, host } });
}

describe('IdentityVerifier', () => {
  it('accepts a user certificate from the user CA and reads its identity', async () => {
    expect(verifier().verify(await certFrom(user, 'user'), 'user')).toMatchObject({ kind: 'user', username: 'alice', roles: ['access'] });
  });

  it.each([
    ['a host certificate used as a user certificate', () => certFrom(host, 'host'), 'user', /a host certificate cannot be used as a user certificate/],
    ['a user certificate used as a host certificate', () => certFrom(user, 'user'), 'host', /a user certificate cannot be used as a host certificate/],
    ['a certificate from another cluster', () => certFrom(otherCluster, 'user'), 'user', /not issued by this cluster's user CA/],
    ['a host-kind identity signed by the user CA', () => certFrom(user, 'host'), 'user', /a host certificate cannot be used as a user certificate/],
  ] as const)('refuses %s', async (_, make, expected, message) => {
    const cert = await make();
    expect(() => verifier().verify(cert, expected)).toThrow(message);
  });

  it('refuses an expired certificate with the way out', async () => {
    const cert = await certFrom(user, 'user', { ttlMs: 1000 });
    expect(() => verifier().verify(cert, 'user', Date.now() + 2000)).toThrow(/expired at .*run `postern login`/);
    try {
      verifier().verify(cert, 'user', Date.now() + 2000);
    } catch (err) {
      expect((err as { code: string }).code).toBe('CERT_EXPIRED');
    }
  });
});

describe('certificates narrowed to one resource', () => {
  const grafana = { kind: 'app' as const, name: 'grafana' };
  it('are accepted for that resource only', () => {
    expect(() => checkRouteScope(grafana, grafana)).not.toThrow();
    expect(() => checkRouteScope(undefined, undefined)).not.toThrow();
    expect(() => checkRouteScope(undefined, grafana)).not.toThrow(); // a login certificate goes anywhere its roles allow
    expect(() => checkRouteScope(grafana, { kind: 'app', name: 'redis' })).toThrow('this certificate is only for app "grafana", not app "redis"');
    expect(() => checkRouteScope(grafana, undefined)).toThrow(/only for app "grafana"; use your login certificate/);
    expect(() => checkRouteScope({ kind: 'db', service: 'pg' }, undefined)).toThrow(/only for db "pg"/);
  });
});
