import { z } from 'zod';
import { PosternError } from '../errors/postern-error.js';
import type { Logger } from '../log/logger.js';
import { BUILTIN_ROLES, parseRole, roleToYaml, type Role } from '../policy/role.js';
import type { Backend } from '../storage/backend.js';
import { Collection } from '../storage/collection.js';
import { Mirror } from '../storage/mirror.js';

/** Roles are stored in their YAML form and re-checked on the way out by the parser that checked them on the way in. */
const storedRole = z.unknown().transform((value, ctx): Role => {
  try {
    return parseRole(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const BUILTIN = new Map(BUILTIN_ROLES.map((r) => [r.metadata.name, r]));

/**
 * Roles: the built-in ones (editor, access, auditor) and custom ones from storage. Built-in names
 * are reserved, so a role file cannot quietly change what `access` means on one cluster.
 */
export class Roles {
  readonly collection: Collection<typeof storedRole>;

  constructor(backend: Backend) {
    this.collection = new Collection(backend, '/roles/', storedRole, 'role');
  }

  async get(name: string): Promise<Role | undefined> {
    return BUILTIN.get(name) ?? this.collection.get(name);
  }

  async list(): Promise<Role[]> {
    return [...BUILTIN_ROLES, ...(await this.collection.list())];
  }

  /** Creates or replaces a custom role; says which it did. */
  async upsert(role: Role): Promise<'created' | 'updated'> {
    const name = role.metadata.name;
    if (BUILTIN.has(name)) throw new PosternError('BAD_REQUEST', `"${name}" is a built-in role and cannot be replaced; give your role another name`);
    const existed = (await this.collection.get(name)) !== undefined;
    await this.collection.put(name, roleToYaml(role));
    return existed ? 'updated' : 'created';
  }

  async remove(name: string): Promise<void> {
    if (BUILTIN.has(name)) throw new PosternError('BAD_REQUEST', `"${name}" is a built-in role and cannot be removed`);
    if (!(await this.collection.delete(name))) throw new PosternError('NOT_FOUND', `role "${name}" does not exist; list roles with \`postern ctl get roles\``);
  }

  /** Role names that do not exist, for checks when users are given roles. */
  async missing(names: readonly string[]): Promise<string[]> {
    const out: string[] = [];
    for (const n of names) if (!(await this.get(n))) out.push(n);
    return out;
  }
}

/** The server's live copy of the roles, for authorization on hot paths. */
export class RoleCache {
  private readonly mirror: Mirror<typeof storedRole>;

  constructor(roles: Roles, log: Logger) {
    this.mirror = new Mirror(roles.collection, log);
  }

  start(): Promise<void> {
    return this.mirror.start();
  }

  close(): void {
    this.mirror.close();
  }

  /** Resolves role names; unknown names are left out (the policy engine reports them). */
  resolve(names: readonly string[]): Role[] {
    const out: Role[] = [];
    for (const n of names) {
      const role = BUILTIN.get(n) ?? this.mirror.get(n);
      if (role) out.push(role);
    }
    return out;
  }

  /** Called whenever a stored role changes, so decision caches can be dropped. */
  onChange(listener: () => void): () => void {
    return this.mirror.onChange(listener);
  }
}
