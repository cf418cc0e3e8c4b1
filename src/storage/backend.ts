/**
 * The storage contract every backend implements (DESIGN.md §5). Keys are slash-separated paths
 * ("/authorities/host"); values are text (JSON for typed resources). Every write gets a revision
 * from one increasing sequence, so a compare-and-swap can say "only if nobody wrote since".
 *
 * compliance.ts holds the suite every implementation must pass.
 */
export interface Item {
  key: string;
  value: string;
  /** When the item stops existing; reads never return expired items. */
  expires?: Date;
  /** Increases with every write anywhere in the backend. */
  revision: number;
}

export interface PutOptions {
  expires?: Date;
}

export type WatchEvent = { type: 'put'; item: Item } | { type: 'delete'; key: string; revision: number };

export interface Watcher extends AsyncIterable<WatchEvent> {
  /** Ends the iteration. Safe to call more than once. */
  close(): void;
  /** Resolves when the watcher is established: every write after this point will be seen. */
  readonly ready: Promise<void>;
}

export interface Backend {
  get(key: string): Promise<Item | undefined>;
  put(key: string, value: string, opts?: PutOptions): Promise<Item>;
  /**
   * Writes `value` only if the item's revision is still `expected` (or, with `null`, only if the
   * key does not exist). Throws PosternError COMPARE_FAILED otherwise.
   */
  compareAndSwap(key: string, expected: number | null, value: string, opts?: PutOptions): Promise<Item>;
  /**
   * Renews the leases of existing items: moves their expiry to `expires` without writing them, so
   * no new revision and no watch event (an idle agent's records stay quiet). Returns the keys it
   * could not renew because they do not exist or have expired already; write those again.
   */
  touch(keys: string[], expires: Date): Promise<string[]>;
  /** Returns whether an item was deleted. */
  delete(key: string): Promise<boolean>;
  /** Items whose key starts with `prefix`, in key order. */
  range(prefix: string, opts?: { limit?: number }): Promise<Item[]>;
  /** Puts and deletes (expiry included) under `prefix`, in commit order, from now on. */
  watch(prefix: string): Watcher;
  close(): Promise<void>;
}
