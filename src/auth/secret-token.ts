import { createHash, randomBytes } from 'node:crypto';

/**
 * Bearer secrets (invite links, join tokens, session IDs) are random and are stored only as their
 * SHA-256: reading the database does not give them up, and looking one up by its hash is a key
 * lookup, not a comparison that could leak timing.
 */
export function newSecretToken(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A short, non-secret handle for listing and removing (the first 12 hex digits of the hash). */
export function tokenId(token: string): string {
  return tokenHash(token).slice(0, 12);
}
