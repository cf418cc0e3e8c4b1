import type { LiveSessions } from '../auth/live-sessions.js';
import type { LockWatcher } from '../auth/lock-watcher.js';
import { describeLock } from '../auth/locks.js';
import type { User, userSchema } from '../auth/users.js';
import type { ErrorCode } from '../errors/codes.js';
import type { Subject } from '../policy/traits.js';
import type { Mirror } from '../storage/mirror.js';
import { credentialOf, type Caller } from './caller.js';

/** A caller as the cluster stands now: the subject to decide for, or why there is none. */
export type Standing = { ok: true; subject: Subject } | { ok: false; code: ErrorCode; reason: string };

/**
 * Takes a caller to the cluster as it stands now, before any decision:
 * - the credential must not have expired, and no lock may cover the user (or agent), a role the
 *   credential names, or a role the user holds;
 * - a person must still exist: decisions use the user as stored now, so a removed user, or a
 *   role taken away, grants nothing, whatever a certificate says. A certificate can only
 *   narrow: its roles and trait values count only where the user still has them;
 * - the web or app session a credential came from must still be alive;
 * - a user left with no roles has no access at all (`ctl users update NAME --roles=`).
 * Reads are from memory (copies kept current by storage watches), with storage as the fallback
 * for a user the copy has not seen yet.
 */
export class Standings {
  /** Narrowed subjects, by caller and user record: the same pair gives the same object (checkers are cached by subject). */
  private readonly narrowed = new WeakMap<Caller, { user: User; subject: Subject }>();

  constructor(
    private readonly users: Mirror<typeof userSchema>,
    private readonly locks: LockWatcher,
    private readonly sessions: LiveSessions,
  ) {}

  async of(caller: Caller, now = Date.now()): Promise<Standing> {
    if (caller.expires.getTime() <= now) {
      return { ok: false, code: caller.via === 'certificate' ? 'CERT_EXPIRED' : 'UNAUTHENTICATED', reason: `${credentialOf(caller)} of ${caller.username} expired at ${caller.expires.toISOString()}` };
    }
    const lock = this.locks.find(caller);
    if (lock) return { ok: false, code: 'LOCKED', reason: describeLock(lock) };
    if (caller.kind === 'host') return { ok: true, subject: caller };
    const user = await this.users.read(caller.username);
    if (!user) return { ok: false, code: 'UNAUTHENTICATED', reason: `user ${caller.username} no longer exists` };
    // A lock on a role covers everyone who holds it, whatever their credential names.
    const held = this.locks.find({ username: user.name, roles: user.roles });
    if (held) return { ok: false, code: 'LOCKED', reason: describeLock(held) };
    for (const ref of caller.sessions ?? []) {
      if (!(await this.sessions.alive(ref))) return { ok: false, code: 'UNAUTHENTICATED', reason: `${ref.kind === 'web' ? 'the web session' : 'the app session'} of ${caller.username} has ended` };
    }
    const subject = this.narrow(caller, user);
    // No roles, no access: not even a route whose policy lets any signed-in user in.
    if (subject.roles.length === 0) {
      const reason = user.roles.length === 0 ? `user ${user.name} has no roles` : `the roles ${credentialOf(caller)} names (${caller.roles.join(', ') || 'none'}) are no longer ${user.name}'s; log in again for the roles ${user.name} has now`;
      return { ok: false, code: 'ACCESS_DENIED', reason };
    }
    return { ok: true, subject };
  }

  private narrow(caller: Caller, user: User): Subject {
    const known = this.narrowed.get(caller);
    if (known?.user === user) return known.subject;
    const subject = caller.via === 'certificate' ? narrowed(caller, user) : { username: user.name, roles: user.roles, traits: user.traits };
    this.narrowed.set(caller, { user, subject });
    return subject;
  }
}

/** What a certificate claims, where the user as stored still has it. */
function narrowed(caller: Caller, user: User): Subject {
  const traits: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(caller.traits)) {
    const kept = values.filter((v) => user.traits[name]?.includes(v));
    if (kept.length > 0) traits[name] = kept;
  }
  return { username: user.name, roles: caller.roles.filter((r) => user.roles.includes(r)), traits };
}
