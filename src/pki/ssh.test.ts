import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newSshKeyPair, opensshPrivateKey, parsePublicKeyLine, SSH_CERT_HOST, SSH_CERT_USER, signSshCertificate } from './ssh.js';

/** ssh-keygen is the judge of whether a certificate is one OpenSSH accepts. */
function describeWithSshKeygen(cert: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-ssh-'));
  writeFileSync(join(dir, 'id-cert.pub'), cert + '\n');
  return execFileSync('ssh-keygen', ['-L', '-f', join(dir, 'id-cert.pub')], { encoding: 'utf8' });
}

const haveSshKeygen = (() => {
  try {
    execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
})();

describe.runIf(haveSshKeygen)('OpenSSH certificates', () => {
  const ca = newSshKeyPair('postern user CA');
  const user = newSshKeyPair();

  it('signs user certificates that ssh-keygen reads back: principals, validity, extensions, CA', () => {
    const cert = signSshCertificate(ca.privateKey, {
      publicKeyBlob: parsePublicKeyLine(user.publicLine),
      type: SSH_CERT_USER,
      keyId: 'alice@example',
      principals: ['root@web-1', 'ubuntu@web-1'],
      validAfter: new Date('2030-01-01T00:00:00Z'),
      validBefore: new Date('2030-01-01T01:00:00Z'),
    });
    const out = describeWithSshKeygen(cert);
    expect(out).toContain('Type: ssh-ed25519-cert-v01@openssh.com user certificate');
    expect(out).toContain('Key ID: "alice@example"');
    expect(out).toMatch(/Signing CA: ED25519 SHA256:\S+ \(using ssh-ed25519\)/);
    expect(out).toMatch(/Valid: from 2030-01-01T\d\d:00:00 to 2030-01-01T\d\d:00:00/);
    expect(out).toMatch(/Principals: \n\s+root@web-1\n\s+ubuntu@web-1\n/);
    expect(out).toMatch(/Extensions: \n\s+permit-X11-forwarding\n\s+permit-agent-forwarding\n\s+permit-port-forwarding\n\s+permit-pty\n\s+permit-user-rc/);
  });

  it('signs host certificates', () => {
    const host = newSshKeyPair();
    const cert = signSshCertificate(ca.privateKey, { publicKeyBlob: parsePublicKeyLine(host.publicLine), type: SSH_CERT_HOST, keyId: 'web-1', principals: ['web-1', 'web-1.example.com'], validAfter: new Date(), validBefore: new Date(Date.now() + 3_600_000) });
    expect(describeWithSshKeygen(cert)).toContain('host certificate');
  });

  it('writes private keys OpenSSH loads', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-ssh-'));
    const pair = newSshKeyPair();
    writeFileSync(join(dir, 'id'), opensshPrivateKey(pair.privateKey, 'alice'), { mode: 0o600 });
    // ssh-keygen -y derives the public key from the file: it must be the same key.
    expect(execFileSync('ssh-keygen', ['-y', '-f', join(dir, 'id')], { encoding: 'utf8' }).trim().split(' ').slice(0, 2)).toEqual(pair.publicLine.split(' ').slice(0, 2));
  });

  it('refuses keys it cannot certify, saying which', () => {
    expect(() => parsePublicKeyLine('ssh-rsa AAAAB3Nza host')).toThrow(/not an Ed25519 SSH public key \(ssh-rsa\)/);
    expect(() => parsePublicKeyLine('ssh-ed25519 AAAA')).toThrow(/malformed|truncated/);
  });
});
