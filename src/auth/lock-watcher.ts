import type { Logger } from '../log/logger.js';
import { Mirror } from '../storage/mirror.js';
import { lockMatches, type Lock, type lockSchema, type LockSubject, type Locks } from './locks.js';

/**
 * This process's view of the locks. Checks are synchronous reads of a Mirror (every new
 * connection pays for one); a lock made anywhere, even by `postern ctl` in another process,
 * reaches onChange listeners within the storage poll interval, and the access layer's live
 * grants end what it covers.
 */
export class LockWatcher {
  private readonly mirror: Mirror<typeof lockSchema>;

  constructor(locks: Locks, log: Logger) {
    this.mirror = new Mirror(locks.collection, log);
  }

  start(): Promise<void> {
    return this.mirror.start();
  }

  close(): void {
    this.mirror.close();
  }

  /** The lock that applies to this subject now, if any. */
  find(subject: LockSubject): Lock | undefined {
    const now = Date.now();
    for (const lock of this.mirror.values()) {
      if (lock.expires && Date.parse(lock.expires) <= now) continue;
      if (lockMatches(lock, subject)) return lock;
    }
    return undefined;
  }

  /** Called when a lock is placed or lifted; returns the function that unsubscribes. */
  onChange(listener: () => void): () => void {
    return this.mirror.onChange(listener);
  }
}
