import { createPublicKey, webcrypto } from 'node:crypto';
import { PosternError } from '../errors/postern-error.js';
import { EC_ALGORITHM, type CryptoKey, x509 } from './crypto.js';

/**
 * Checks that a public key sent by a client or agent (PEM SubjectPublicKeyInfo) is ECDSA P-256,
 * and imports it for signing into a certificate. The private half never leaves its maker.
 */
export async function importClientKey(pem: string): Promise<CryptoKey> {
  let details;
  try {
    details = createPublicKey(pem).asymmetricKeyDetails;
  } catch {
    throw new PosternError('BAD_REQUEST', 'public_key is not a PEM public key; send the SubjectPublicKeyInfo of an ECDSA P-256 key');
  }
  if (details?.namedCurve !== 'prime256v1') throw new PosternError('BAD_REQUEST', 'public_key must be an ECDSA P-256 key');
  return webcrypto.subtle.importKey('spki', x509.PemConverter.decode(pem)[0]!, EC_ALGORITHM, true, ['verify']);
}
