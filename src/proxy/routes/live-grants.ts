import type { Logger } from '../../log/logger.js';

/** An open tunnel and how to tell whether it may stay open. */
export interface LiveGrant {
  /** Undefined while the grant holds; otherwise why it no longer does. */
  recheck(): Promise<string | undefined> | string | undefined;
  close(reason: string): void;
}

/**
 * Open tunnels are re-authorized continuously, not just when they open: every `intervalMs` each
 * one's grant is checked again (a lock, a role change, an expired certificate, an ended session
 * all show up there) and a tunnel that lost it is closed. With the default interval a revoked
 * user's tunnels close within a second.
 */
export class LiveGrants {
  private readonly grants = new Set<LiveGrant>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 500,
  ) {}

  get size(): number {
    return this.grants.size;
  }

  add(grant: LiveGrant): () => void {
    this.grants.add(grant);
    this.timer ??= setInterval(() => void this.sweep(), this.intervalMs).unref();
    return () => {
      this.grants.delete(grant);
      if (this.grants.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for (const grant of [...this.grants]) {
        let reason: string | undefined;
        try {
          reason = await grant.recheck();
        } catch (err) {
          reason = `its grant could not be checked: ${(err as Error).message}`;
          this.log.warn('re-checking a tunnel failed; closing it', { err });
        }
        if (reason !== undefined && this.grants.delete(grant)) grant.close(reason);
      }
    } finally {
      this.sweeping = false;
    }
  }
}
