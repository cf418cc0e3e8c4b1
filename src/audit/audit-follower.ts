import type { AuditEvent, AuditFollower } from './audit-log.js';

/**
 * One follow(): reads the matching events after its cursor in batches and, once it has read them
 * all, waits until its log calls notify() (an append in this process, or the log's poll seeing
 * another process's). It pulls rather than being pushed to: the log keeps every event, so a slow
 * consumer costs no memory and never falls behind; the cursor is all the state there is.
 * Iterate it once.
 */
export class AuditFollowerCursor implements AuditFollower {
  private wake: (() => void) | undefined;
  /** Set by notify(), cleared before each read. */
  private notified = false;
  private closed = false;

  constructor(
    /** The matching events after an index, oldest first, a batch at a time. */
    private readonly readAfter: (index: number) => Promise<AuditEvent[]>,
    /** The index to read after first. */
    private readonly start: Promise<number>,
    private readonly onClose: () => void,
  ) {
    start.catch(() => {}); // the iteration sees a failure; an unread follower must not crash the process
  }

  /** Lets a waiting iteration read again (or one reading now, once more). */
  notify(): void {
    this.notified = true;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<AuditEvent, void, undefined> {
    try {
      let cursor = await this.start;
      while (!this.closed) {
        this.notified = false;
        const batch = await this.readAfter(cursor);
        if (batch.length === 0) {
          // A notify() during the read may be for an event the read did not see yet.
          if (!this.notified) await new Promise<void>((resolve) => (this.wake = resolve));
          continue;
        }
        for (const event of batch) {
          // close() while the consumer held the previous event ends the iteration here.
          if (this.closed) return;
          cursor = event.index;
          yield event;
        }
      }
    } finally {
      this.close();
    }
  }
}
