import type { Logger } from '../log/logger.js';
import { Mirror } from '../storage/mirror.js';
import { lockMatches, type Lock, type lockSchema, type LockSubject, type Locks } from './locks.js';

/** A live connection or session that must end when a lock comes to cover its subject. */
export interface Tracked {
  subject: LockSubject;
  end(lock: Lock): void;
}

/**
 * This process's view of the locks, and the live connections they must end. Checks are
 * synchronous reads of a Mirror (every new connection pays for one); a new lock, even one made by
 * `postern ctl` in another process, ends the tracked connections it covers.
 */
export class LockWatcher {
  private readonly mirror: Mirror<typeof lockSchema>;
  private readonly tracked = new Set<Tracked>();

  constructor(locks: Locks, log: Logger) {
    this.mirror = new Mirror(locks.collection, log);
    this.mirror.onChange((change) => {
      if (change.type === 'put') this.enforce(change.value);
    });
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

  /** Registers a live connection; returns the function that unregisters it. */
  track(entry: Tracked): () => void {
    this.tracked.add(entry);
    return () => this.tracked.delete(entry);
  }

  private enforce(lock: Lock): void {
    for (const entry of this.tracked) {
      if (!lockMatches(lock, entry.subject)) continue;
      this.tracked.delete(entry);
      entry.end(lock);
    }
  }
}
