import { z } from 'zod';
import type { Backend } from '../storage/backend.js';
import { Collection } from '../storage/collection.js';
import { newSecretToken, tokenHash } from './secret-token.js';

export const webSessionSchema = z.object({
  /** Non-secret handle for listing and ending (the first 12 hex digits of the cookie's hash). */
  id: z.string(),
  user: z.string(),
  created: z.string(),
  expires: z.string(),
  remote_addr: z.string(),
  /** `cli` for bearer tokens the CLI got through a browser or device login. */
  kind: z.enum(['web', 'cli']).default('web'),
});
export type WebSession = z.output<typeof webSessionSchema>;

/** The browser session cookie. `__Host-`: Secure, no Domain, Path=/ — only this exact host may set or read it. */
export const SESSION_COOKIE = '__Host-postern_session';

/**
 * Browser sessions: a random secret in a cookie, stored by its hash with an expiry. A session never
 * outlives what a certificate for the same user could (the roles' max_session_ttl), and an
 * administrator can list and end them.
 */
export class WebSessions {
  /** Keyed by the hash of the secret. */
  readonly collection: Collection<typeof webSessionSchema>;

  constructor(backend: Backend) {
    this.collection = new Collection(backend, '/sessions/web/', webSessionSchema, 'session');
  }

  async create(user: string, ttlMs: number, remoteAddr: string, kind: WebSession['kind'] = 'web'): Promise<{ secret: string; session: WebSession }> {
    const secret = newSecretToken(32);
    const hash = tokenHash(secret);
    const expires = new Date(Date.now() + ttlMs);
    const session: WebSession = { id: hash.slice(0, 12), user, created: new Date().toISOString(), expires: expires.toISOString(), remote_addr: remoteAddr, kind };
    await this.collection.create(hash, session, expires);
    return { secret, session };
  }

  /** The live session for a cookie value, if any. */
  get(secret: string): Promise<WebSession | undefined> {
    return /^[A-Za-z0-9_-]{20,64}$/.test(secret) ? this.collection.get(tokenHash(secret)) : Promise.resolve(undefined);
  }

  /** The live session with this hash (app sessions keep the hash of the web session they came from). */
  byHash(hash: string): Promise<WebSession | undefined> {
    return this.collection.get(hash);
  }

  async end(secret: string): Promise<boolean> {
    return this.collection.delete(tokenHash(secret));
  }

  list(): Promise<WebSession[]> {
    return this.collection.list();
  }

  /** Ends sessions by id, or every session of a user; returns how many ended. */
  async endWhere(match: { id?: string; user?: string }): Promise<WebSession[]> {
    const ended: WebSession[] = [];
    for (const item of await this.collection.backend.range(this.collection.prefix)) {
      const s = this.collection.parse(item.key, item.value);
      if ((match.id && s.id === match.id) || (match.user && s.user === match.user)) {
        await this.collection.backend.delete(item.key);
        ended.push(s);
      }
    }
    return ended;
  }
}
