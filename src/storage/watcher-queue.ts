import { PosternError } from '../errors/postern-error.js';
import type { WatchEvent, Watcher } from './backend.js';

/** Events a consumer has not taken yet before the watcher is closed as fallen behind. */
const MAX_PENDING = 10_000;

/**
 * The buffer between a backend and one watcher's consumer: an async iterator over pushed events.
 * A consumer that stops reading does not grow memory without bound: past MAX_PENDING the watcher
 * ends with WATCH_CLOSED, and the consumer re-reads state and watches again.
 */
export class WatcherQueue implements Watcher {
  private readonly pending: WatchEvent[] = [];
  private waiting: ((r: IteratorResult<WatchEvent>) => void) | undefined;
  private failWaiting: ((err: unknown) => void) | undefined;
  private ended = false;
  private error: PosternError | undefined;

  /** `ready`: when the backend has set the watcher up (at once, unless it must ask a server). */
  constructor(
    private readonly onClose: () => void,
    readonly ready: Promise<void> = Promise.resolve(),
  ) {}

  get closed(): boolean {
    return this.ended;
  }

  push(event: WatchEvent): void {
    if (this.ended) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = this.failWaiting = undefined;
      resolve({ value: event, done: false });
      return;
    }
    if (this.pending.length >= MAX_PENDING) {
      this.fail(new PosternError('WATCH_CLOSED', `the watcher fell more than ${MAX_PENDING} events behind; read the state again and watch anew`));
      return;
    }
    this.pending.push(event);
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.onClose();
    this.waiting?.({ value: undefined, done: true });
    this.waiting = this.failWaiting = undefined;
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    return {
      next: () => {
        const event = this.pending.shift();
        if (event) return Promise.resolve({ value: event, done: false });
        if (this.error) return Promise.reject(this.error);
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          this.waiting = resolve;
          this.failWaiting = reject;
        });
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /** Ends the watcher with an error the consumer sees on its next read. */
  fail(err: PosternError): void {
    if (this.ended) return;
    this.error = err;
    this.pending.length = 0;
    const reject = this.failWaiting;
    this.waiting = this.failWaiting = undefined;
    this.close();
    reject?.(err);
  }
}
