import { z } from 'zod';
import { PosternError } from '../errors/postern-error.js';
import type { Backend } from '../storage/backend.js';
import { Collection } from '../storage/collection.js';
import { newSecretToken, tokenHash } from './secret-token.js';

/** Invite and reset links live an hour unless asked otherwise. */
export const USER_TOKEN_TTL_MS = 3_600_000;

const userTokenSchema = z.object({
  kind: z.enum(['invite', 'reset']),
  user: z.string(),
  /** Made with the token so the page can show it and the user confirm a code before it counts. */
  totp_secret: z.string().optional(),
  expires: z.string(),
});
export type UserToken = z.output<typeof userTokenSchema>;

/**
 * Single-use tokens that let a person set their password (and enrol a second factor): invites for
 * new users and resets for existing ones. Stored by hash; consuming deletes, which succeeds once.
 */
export class UserTokens {
  private readonly tokens: Collection<typeof userTokenSchema>;

  constructor(backend: Backend) {
    this.tokens = new Collection(backend, '/usertokens/', userTokenSchema, 'invite');
  }

  async create(kind: UserToken['kind'], user: string, opts: { ttlMs?: number; totpSecret?: string } = {}): Promise<{ token: string; expires: Date }> {
    const token = newSecretToken();
    const expires = new Date(Date.now() + (opts.ttlMs ?? USER_TOKEN_TTL_MS));
    await this.tokens.create(tokenHash(token), { kind, user, expires: expires.toISOString(), ...(opts.totpSecret ? { totp_secret: opts.totpSecret } : {}) }, expires);
    return { token, expires };
  }

  /** The token's record, or an error that says the link is expired or used (the two look the same, on purpose). */
  async lookup(token: string): Promise<UserToken> {
    const found = /^[A-Za-z0-9_-]{16,64}$/.test(token) ? await this.tokens.get(tokenHash(token)) : undefined;
    if (!found) throw new PosternError('NOT_FOUND', 'this link is invalid, expired or already used; ask an administrator for a new one (`postern ctl users reset NAME`)');
    return found;
  }

  /** Uses the token up; throws if another request used it first. */
  async consume(token: string): Promise<void> {
    if (!(await this.tokens.delete(tokenHash(token)))) throw new PosternError('NOT_FOUND', 'this link was used already; ask an administrator for a new one');
  }

  /** Invalidates a user's outstanding links (when the user is removed or reset again). */
  async revokeFor(user: string): Promise<void> {
    for (const item of await this.tokens.backend.range(this.tokens.prefix)) {
      if (this.tokens.parse(item.key, item.value).user === user) await this.tokens.backend.delete(item.key);
    }
  }
}
