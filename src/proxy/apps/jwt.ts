import { createHash, createPublicKey } from 'node:crypto';
import { SignJWT, type JWK } from 'jose';
import type { CertAuthority } from '../../pki/authority.js';

/** What an app learns about the person behind a request. */
export interface AssertionSubject {
  username: string;
  roles: string[];
  traits: Record<string, string[]>;
}

/** Assertions live this long; a cached one is re-signed when less than a minute is left. */
const LIFETIME_S = 5 * 60;
const RESIGN_BEFORE_S = 60;

/**
 * Signs the `Postern-Jwt-Assertion` header (ES256, with `kid`) and publishes the key as a JWKS.
 * Signing costs far more than forwarding a request, so each app session keeps its assertion and
 * re-signs only near expiry: the cache key is the session, the value its token.
 */
export class JwtSigner {
  private readonly cache = new Map<string, { token: string; refreshAt: number; claims: string }>();
  private readonly jwk: JWK;
  readonly kid: string;

  constructor(
    private readonly authority: CertAuthority,
    private readonly issuer: string,
  ) {
    const publicKey = createPublicKey(authority.certPem);
    // A hash of the public key: stable for the key's life, different after a rotation.
    this.kid = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64url').slice(0, 22);
    this.jwk = { ...(publicKey.export({ format: 'jwk' }) as JWK), kid: this.kid, alg: 'ES256', use: 'sig' };
  }

  /** The assertion for a session (cached), for an app identified by its URI (`aud`). */
  async assertion(sessionKey: string, subject: AssertionSubject, audience: string): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    // The claims that can change within a session: new roles or traits get a new assertion at once.
    const claims = JSON.stringify([subject.roles, subject.traits, audience]);
    const cached = this.cache.get(sessionKey);
    if (cached && cached.refreshAt > now && cached.claims === claims) return cached.token;
    const token = await new SignJWT({ username: subject.username, roles: subject.roles, traits: subject.traits })
      .setProtectedHeader({ alg: 'ES256', kid: this.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setSubject(subject.username)
      .setAudience(audience)
      .setIssuedAt(now)
      .setNotBefore(now - 5)
      .setExpirationTime(now + LIFETIME_S)
      .sign(this.authority.privateKey);
    if (this.cache.size > 50_000) this.cache.clear();
    this.cache.set(sessionKey, { token, refreshAt: now + LIFETIME_S - RESIGN_BEFORE_S, claims });
    return token;
  }

  forget(sessionKey: string): void {
    this.cache.delete(sessionKey);
  }

  /** The JSON Web Key Set apps verify assertions with (public, unauthenticated). */
  jwks(): { keys: JWK[] } {
    return { keys: [this.jwk] };
  }
}
