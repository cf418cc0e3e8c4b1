import type { Logger } from '../log/logger.js';
import type { AccessRequest } from '../resources/table.js';
import type { Caller } from './caller.js';
import type { AccessTarget } from './decide.js';

/** Something open because access was granted: a relayed session, an agent's tunnel, a connection with a certificate. */
export interface Grant {
  caller?: Caller;
  /** What it reaches; a grant without one is held for its caller alone (it ends when the caller's standing does). */
  target?: AccessTarget;
  /** The target as it stands now, when its labels can change under an open session; undefined while it is not online. */
  current?: () => AccessTarget | undefined;
  request?: AccessRequest;
  clientAddr: string;
  /** Ends what the grant keeps open; `reason` says why, for the log and the audit log. */
  revoke(reason: string): void;
}

/** The longest delay a Node timer takes (about 24.8 days); longer ones fire at once, so they are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Every open grant of this process, decided again whenever something it rests on changes: a
 * lock, a role, a user, a session, a resource's labels (each change source calls changed()), and
 * when its caller's credential expires (a timer per grant). Changes are coalesced: a burst of
 * them costs one pass over the grants. A grant that no longer holds is revoked at once; with
 * storage's 100 ms poll for changes made by other processes, that is well within a second.
 */
export class LiveGrants {
  private readonly grants = new Map<Grant, NodeJS.Timeout | undefined>();
  private scheduled = false;
  private sweeping = false;
  private again = false;
  /** Counts changes: a decision made before the latest change must be made again once held. */
  private changes = 0;

  constructor(
    /** Why the grant no longer holds, or undefined while it does. */
    private readonly recheck: (grant: Grant) => Promise<string | undefined>,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.grants.size;
  }

  /** The number of changes so far; a decision notes it, and hold() compares. */
  get generation(): number {
    return this.changes;
  }

  /**
   * Holds a grant until it is revoked or released; returns the release. `decidedAt` is the
   * generation its decision was made at: a change that came between the decision and now (while
   * the upstream was dialled, say) found no grant to re-decide, so this one is decided again now.
   */
  hold(grant: Grant, decidedAt = this.changes): () => void {
    this.grants.set(grant, undefined);
    if (grant.caller) this.armExpiry(grant, grant.caller.expires.getTime());
    if (decidedAt !== this.changes) void this.check(grant);
    return () => this.forget(grant);
  }

  /** Something a decision rests on changed: decide every grant again, soon. */
  changed(): void {
    this.changes++;
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.sweep();
    });
  }

  /**
   * Revokes a held grant now, for a reason other than a change (an administrator ended the
   * session): forgotten first, as a failed re-decision is, so it is revoked once. False when it is
   * not held (revoked or released already).
   */
  revoke(grant: Grant, reason: string): boolean {
    if (!this.grants.has(grant)) return false;
    this.forget(grant);
    grant.revoke(reason);
    return true;
  }

  /** Releases every grant without revoking (shutdown: the connections are closed by their owners). */
  stop(): void {
    for (const grant of [...this.grants.keys()]) this.forget(grant);
  }

  private async sweep(): Promise<void> {
    if (this.sweeping) {
      this.again = true;
      return;
    }
    this.sweeping = true;
    try {
      do {
        this.again = false;
        for (const grant of [...this.grants.keys()]) if (this.grants.has(grant)) await this.check(grant);
      } while (this.again);
    } finally {
      this.sweeping = false;
    }
  }

  private async check(grant: Grant): Promise<void> {
    let reason: string | undefined;
    try {
      reason = await this.recheck(grant);
    } catch (err) {
      reason = `its access could not be checked again: ${(err as Error).message}`;
      this.log.warn('re-deciding an open grant failed; revoking it', { err });
    }
    if (reason === undefined || !this.grants.has(grant)) return;
    this.forget(grant);
    try {
      grant.revoke(reason);
    } catch (err) {
      this.log.error('revoking a grant failed', { err, reason });
    }
  }

  private armExpiry(grant: Grant, at: number): void {
    const delay = Math.max(0, at - Date.now());
    const timer = setTimeout(() => {
      if (!this.grants.has(grant)) return;
      // Timers may fire a millisecond early: until the credential has expired, wait again.
      if (Date.now() < at) this.armExpiry(grant, at);
      else void this.check(grant);
    }, Math.min(delay, MAX_TIMER_MS)).unref();
    this.grants.set(grant, timer);
  }

  private forget(grant: Grant): void {
    clearTimeout(this.grants.get(grant));
    this.grants.delete(grant);
  }
}
