import { z } from 'zod';
import { PosternError } from '../errors/postern-error.js';
import { AGENT_ROLES, type AgentRole } from '../resources/table.js';
import type { Backend } from '../storage/backend.js';
import { Collection } from '../storage/collection.js';
import { newSecretToken, tokenHash } from './secret-token.js';

export const JOIN_TOKEN_TTL_MS = 30 * 60_000;

const joinTokenSchema = z.object({
  /** A short non-secret handle (the first 12 hex digits of the hash), for listing and removing. */
  id: z.string(),
  roles: z.array(z.enum(AGENT_ROLES as [AgentRole, ...AgentRole[]])),
  created: z.string(),
  created_by: z.string(),
  expires: z.string(),
});
export type JoinToken = z.output<typeof joinTokenSchema>;

export function parseAgentRoles(text: string): AgentRole[] {
  const roles = text.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = roles.filter((r) => !(AGENT_ROLES as readonly string[]).includes(r));
  if (roles.length === 0 || bad.length > 0) {
    throw new PosternError('USAGE', `${bad.length ? `unknown agent role ${bad.map((b) => `"${b}"`).join(', ')}` : 'no agent role given'}; use a comma-separated list of ${AGENT_ROLES.join(', ')}`);
  }
  return [...new Set(roles)] as AgentRole[];
}

/**
 * Join tokens let an agent get its first host certificate. Dynamic tokens are single-use and
 * expire; they are stored by hash, so the token itself is shown once, when it is made.
 */
export class JoinTokens {
  private readonly tokens: Collection<typeof joinTokenSchema>;

  constructor(backend: Backend) {
    this.tokens = new Collection(backend, '/tokens/', joinTokenSchema, 'token');
  }

  async create(roles: AgentRole[], createdBy: string, ttlMs = JOIN_TOKEN_TTL_MS): Promise<{ token: string; record: JoinToken }> {
    const token = newSecretToken();
    const hash = tokenHash(token);
    const expires = new Date(Date.now() + ttlMs);
    const record: JoinToken = { id: hash.slice(0, 12), roles, created: new Date().toISOString(), created_by: createdBy, expires: expires.toISOString() };
    await this.tokens.create(hash, record, expires);
    return { token, record };
  }

  async list(): Promise<JoinToken[]> {
    return this.tokens.list();
  }

  /** Removes by token or by its id; returns what was removed. */
  async remove(tokenOrId: string): Promise<JoinToken> {
    const items = await this.tokens.backend.range(this.tokens.prefix);
    const hash = tokenHash(tokenOrId);
    const item = items.find((i) => i.key === this.tokens.key(hash)) ?? items.find((i) => /^[0-9a-f]{12}$/.test(tokenOrId) && i.key.startsWith(this.tokens.key(tokenOrId)));
    if (!item) throw new PosternError('NOT_FOUND', `no join token matches "${tokenOrId}"; list them with \`postern ctl get tokens\``);
    await this.tokens.backend.delete(item.key);
    return this.tokens.parse(item.key, item.value);
  }

  /** The token's record without using it up; undefined when it is unknown or expired. */
  peek(token: string): Promise<JoinToken | undefined> {
    return this.tokens.get(tokenHash(token));
  }

  /** Uses a dynamic token up; false when another request used it first. */
  consume(token: string): Promise<boolean> {
    return this.tokens.delete(tokenHash(token));
  }
}
