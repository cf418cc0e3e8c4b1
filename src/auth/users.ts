import { z } from 'zod';
import { PosternError } from '../errors/postern-error.js';
import type { Backend } from '../storage/backend.js';
import { Collection } from '../storage/collection.js';

export const USER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._@+-]{0,63}$/;
const TRAIT_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/;

export const userSchema = z.object({
  name: z.string(),
  roles: z.array(z.string()),
  /** Free-form attributes roles interpolate: `logins`, `db_users`, … */
  traits: z.record(z.string(), z.array(z.string())),
  created: z.string(),
  created_by: z.string(),
});
export type User = z.output<typeof userSchema>;

/**
 * Secrets are kept apart from the user record, under their own prefix, so that listing or
 * showing users never reads them.
 */
const credentialsSchema = z.object({
  password_hash: z.string().optional(),
  totp_secret: z.string().optional(),
  /** The time step of the last accepted one-time code; older and equal steps are refused. */
  totp_last_step: z.number().optional(),
  updated: z.string(),
});
export type Credentials = z.output<typeof credentialsSchema>;

export function checkUserName(name: string): void {
  if (!USER_NAME.test(name)) {
    throw new PosternError('BAD_REQUEST', `"${name}" is not a valid user name: use letters, digits and . _ @ + - (up to 64 characters, starting with a letter or digit)`);
  }
}

export function checkTraits(traits: Record<string, string[]>): void {
  for (const [name, values] of Object.entries(traits)) {
    if (!TRAIT_NAME.test(name)) throw new PosternError('BAD_REQUEST', `"${name}" is not a valid trait name: use letters, digits, dots, dashes and underscores`);
    for (const v of values) if (!v || /[\s{}]/.test(v)) throw new PosternError('BAD_REQUEST', `trait ${name} has an invalid value "${v}": values cannot be empty or contain spaces or braces`);
  }
}

export class Users {
  readonly records: Collection<typeof userSchema>;
  readonly credentials: Collection<typeof credentialsSchema>;

  constructor(backend: Backend) {
    this.records = new Collection(backend, '/users/', userSchema, 'user');
    this.credentials = new Collection(backend, '/credentials/', credentialsSchema, 'credentials');
  }

  async create(user: Omit<User, 'created'>): Promise<User> {
    checkUserName(user.name);
    checkTraits(user.traits);
    const record: User = { ...user, created: new Date().toISOString() };
    await this.records.create(user.name, record);
    return record;
  }

  get(name: string): Promise<User | undefined> {
    return this.records.get(name);
  }

  require(name: string): Promise<User> {
    return this.records.require(name, 'add it with `postern ctl users add`, or list users with `postern ctl get users`');
  }

  list(): Promise<User[]> {
    return this.records.list();
  }

  update(name: string, change: Partial<Pick<User, 'roles' | 'traits'>>): Promise<User> {
    if (change.traits) checkTraits(change.traits);
    return this.records.update(name, (current) => ({ value: { ...current, ...change } }));
  }

  async remove(name: string): Promise<boolean> {
    await this.credentials.delete(name);
    return this.records.delete(name);
  }

  async setCredentials(name: string, creds: Omit<Credentials, 'updated'>): Promise<void> {
    await this.credentials.put(name, { ...creds, updated: new Date().toISOString() });
  }

  getCredentials(name: string): Promise<Credentials | undefined> {
    return this.credentials.get(name);
  }

  /**
   * Records the step of an accepted one-time code, atomically: of two logins racing with the same
   * code, only one gets to store it; the other is told the code was used.
   */
  async consumeTotpStep(name: string, step: number): Promise<boolean> {
    let fresh = false;
    await this.credentials.update(name, (current) => {
      fresh = step > (current.totp_last_step ?? -1);
      return { value: fresh ? { ...current, totp_last_step: step } : current };
    });
    return fresh;
  }
}
