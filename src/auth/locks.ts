import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { PosternError } from '../errors/postern-error.js';
import type { Backend } from '../storage/backend.js';
import { Collection } from '../storage/collection.js';

export const lockSchema = z.object({
  id: z.string(),
  /** An agent is locked by its ID (the user name its host certificate carries). */
  target: z.union([z.object({ user: z.string() }), z.object({ role: z.string() }), z.object({ agent: z.string() })]),
  message: z.string(),
  created: z.string(),
  created_by: z.string(),
  expires: z.string().optional(),
});
export type Lock = z.output<typeof lockSchema>;
export type LockTarget = Lock['target'];

/** Who a lock is checked against: a certificate's or session's user and roles. */
export interface LockSubject {
  username: string;
  roles: readonly string[];
}

export function lockMatches(lock: Lock, subject: LockSubject): boolean {
  const t = lock.target;
  if ('user' in t) return t.user === subject.username;
  if ('agent' in t) return t.agent === subject.username;
  return subject.roles.includes(t.role);
}

export function describeTarget(target: LockTarget): string {
  return 'user' in target ? `user ${target.user}` : 'agent' in target ? `agent ${target.agent}` : `role ${target.role}`;
}

export function describeLock(lock: Lock): string {
  const who = describeTarget(lock.target);
  const until = lock.expires ? ` until ${lock.expires}` : '';
  return `${who} is locked${until}${lock.message ? `: ${lock.message}` : ''}`;
}

/**
 * Locks refuse new connections at once and end live ones (LockWatcher). They live in storage with
 * their expiry, so every proxy and every `postern ctl` sees the same set.
 */
export class Locks {
  readonly collection: Collection<typeof lockSchema>;

  constructor(backend: Backend) {
    this.collection = new Collection(backend, '/locks/', lockSchema, 'lock');
  }

  async create(target: LockTarget, opts: { message?: string; ttlMs?: number; createdBy: string }): Promise<Lock> {
    const expires = opts.ttlMs ? new Date(Date.now() + opts.ttlMs) : undefined;
    const lock: Lock = {
      id: randomUUID(),
      target,
      message: opts.message ?? '',
      created: new Date().toISOString(),
      created_by: opts.createdBy,
      ...(expires ? { expires: expires.toISOString() } : {}),
    };
    await this.collection.create(lock.id, lock, expires);
    return lock;
  }

  list(): Promise<Lock[]> {
    return this.collection.list();
  }

  async remove(id: string): Promise<Lock> {
    const lock = await this.collection.require(id, 'list locks with `postern ctl get locks`');
    await this.collection.delete(id);
    return lock;
  }
}

/** The first lock that applies to the subject, as an error that says who locked what and why. */
export function lockedError(lock: Lock): PosternError {
  return new PosternError('LOCKED', `access refused: ${describeLock(lock)}; ask an administrator (postern ctl get locks)`);
}
