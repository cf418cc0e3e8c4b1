import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAuthority, issueCertificate, loadAuthority } from './authority.js';
import { generateKeyPair, x509 } from './crypto.js';
import { IDENTITY_OIDS, identityFromCertificate, type Identity } from './identity.js';
import { caPin, pinsEqual } from './pin.js';

const userCa = await loadAuthority(await createAuthority('user', 'example.com'));
const hostCa = await loadAuthority(await createAuthority('host', 'example.com'));

async function issueFor(identity: Omit<Identity, 'expires'>) {
  const keys = await generateKeyPair();
  const { username, ...rest } = identity;
  const cert = await issueCertificate(userCa, { publicKey: keys.publicKey, commonName: username, ttlMs: 3_600_000, usage: 'client', identity: rest });
  return new x509.X509Certificate(cert.toString('pem'));
}

describe('certificate authorities', () => {
  it('are self-signed P-256 CAs whose pin is stable across load', async () => {
    const node = new X509Certificate(userCa.certPem);
    expect(node.ca).toBe(true);
    expect(node.verify(node.publicKey)).toBe(true);
    expect(node.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(userCa.pin).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(caPin(userCa.certPem)).toBe(userCa.pin);
    expect(userCa.pin).not.toBe(hostCa.pin);
    expect(pinsEqual(userCa.pin, userCa.pin.toUpperCase().replace('SHA256', 'sha256'))).toBe(true);
    expect(pinsEqual(userCa.pin, hostCa.pin)).toBe(false);
  });

  it('issue server certificates that Node verifies against the CA, with the asked-for names', async () => {
    const keys = await generateKeyPair();
    const cert = await issueCertificate(hostCa, {
      publicKey: keys.publicKey,
      commonName: 'postern.localhost',
      ttlMs: 86_400_000,
      usage: 'server',
      dnsNames: ['postern.localhost', '*.postern.localhost', 'localhost'],
      ipAddresses: ['127.0.0.1'],
    });
    const node = new X509Certificate(cert.toString('pem'));
    expect(node.verify(new X509Certificate(hostCa.certPem).publicKey)).toBe(true);
    expect(node.verify(new X509Certificate(userCa.certPem).publicKey)).toBe(false);
    expect(node.checkHost('grafana.postern.localhost')).toBe('*.postern.localhost');
    expect(node.checkHost('evil.example.com')).toBeUndefined();
    expect(node.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(node.ca).toBe(false);
  });
});

describe('identity in certificates', () => {
  it('round-trips every field through a signed certificate', async () => {
    const id: Omit<Identity, 'expires'> = {
      kind: 'user',
      username: 'alice@example.com',
      roles: ['access', 'dev-ops', 'ünïcode'],
      traits: { logins: ['root', 'ubuntu'], 'kubernetes.groups': [] },
      route: { kind: 'db', service: 'pg', username: 'alice', database: 'orders' },
    };
    const cert = await issueFor(id);
    const back = identityFromCertificate(new Uint8Array(cert.rawData));
    expect(back).toEqual({ ...id, expires: cert.notAfter });
    expect(back.expires.getTime()).toBeGreaterThan(Date.now() + 3_500_000);
  });

  it('round-trips a host identity with no route and no roles', async () => {
    const id: Omit<Identity, 'expires'> = { kind: 'host', username: 'agent-7f3a', roles: [], traits: {} };
    const back = identityFromCertificate(new Uint8Array((await issueFor(id)).rawData));
    expect(back.route).toBeUndefined();
    expect(back).toMatchObject(id);
  });

  it('puts every custom field under the one Postern arc', async () => {
    const cert = await issueFor({ kind: 'user', username: 'bob', roles: ['a'], traits: {}, route: { kind: 'app', name: 'grafana' } });
    const custom = cert.extensions.map((e) => e.type).filter((oid) => !oid.startsWith('2.5.29.'));
    expect(custom.sort()).toEqual(Object.values(IDENTITY_OIDS).sort());
  });

  it('rejects certificates that were not made by Postern', async () => {
    const keys = await generateKeyPair();
    const foreign = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=mallory',
      notAfter: new Date(Date.now() + 86_400_000),
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    });
    expect(() => identityFromCertificate(new Uint8Array(foreign.rawData))).toThrow(/not issued by Postern/);
    const bad = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '02',
      name: 'CN=eve',
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.Extension(IDENTITY_OIDS.kind, false, new Uint8Array([0x0c, 0x05, 0x61, 0x64, 0x6d, 0x69, 0x6e]))],
    });
    expect(() => identityFromCertificate(new Uint8Array(bad.rawData))).toThrow(/unknown identity kind "admin"/);
  });
});
