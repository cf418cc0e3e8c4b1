import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';

/**
 * A CA pin: `sha256:` and the hex SHA-256 of the CA's SubjectPublicKeyInfo. Clients and agents
 * check it on first contact; it survives re-issuing the CA certificate with the same key.
 */
export function caPin(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** Compares two pins in constant time (case-insensitive hex). */
export function pinsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a.trim().toLowerCase());
  const y = Buffer.from(b.trim().toLowerCase());
  return x.length === y.length && timingSafeEqual(x, y);
}
