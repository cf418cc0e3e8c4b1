import type { z } from 'zod';
import { isPosternError } from '../errors/postern-error.js';
import type { Logger } from '../log/logger.js';
import type { Watcher } from './backend.js';
import type { Collection } from './collection.js';

export type MirrorChange<T> = { type: 'put'; name: string; value: T } | { type: 'delete'; name: string };

/**
 * An in-memory copy of a collection, kept current by a storage watch: the watch is opened first,
 * then the collection read, so no write falls between the two. Writes by other processes
 * (`postern ctl`) arrive within the backend's poll interval. A watch that falls behind is
 * reopened and the copy read again; consumers are told every change either way.
 *
 * For hot paths that must not wait on storage: lock checks, role lookups, resource lists.
 */
export class Mirror<S extends z.ZodType> {
  private readonly items = new Map<string, z.output<S>>();
  private readonly listeners = new Set<(change: MirrorChange<z.output<S>>) => void>();
  private watcher: Watcher | undefined;
  private stopped = false;

  constructor(
    private readonly collection: Collection<S>,
    private readonly log: Logger,
  ) {}

  /** Resolves once the first copy is loaded. */
  async start(): Promise<void> {
    const watcher = (this.watcher = this.collection.watch());
    await watcher.ready;
    const fresh = new Map<string, z.output<S>>();
    for (const item of await this.collection.backend.range(this.collection.prefix)) fresh.set(this.nameOf(item.key), this.collection.parse(item.key, item.value));
    for (const name of this.items.keys()) if (!fresh.has(name)) this.apply({ type: 'delete', name });
    for (const [name, value] of fresh) this.apply({ type: 'put', name, value });
    void this.follow(watcher);
  }

  close(): void {
    this.stopped = true;
    this.watcher?.close();
  }

  get(name: string): z.output<S> | undefined {
    return this.items.get(name);
  }

  /**
   * The item from memory, or from storage when the copy does not have it: a write made by
   * another process moments ago may not have reached the copy yet, and an item the copy lacks
   * must not be taken for one that does not exist.
   */
  async read(name: string): Promise<z.output<S> | undefined> {
    return this.items.get(name) ?? (await this.collection.get(name));
  }

  values(): IterableIterator<z.output<S>> {
    return this.items.values();
  }

  get size(): number {
    return this.items.size;
  }

  /** Called for every change after it is applied; returns the function that unsubscribes. */
  onChange(listener: (change: MirrorChange<z.output<S>>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async follow(watcher: Watcher): Promise<void> {
    try {
      for await (const event of watcher) {
        if (event.type === 'delete') this.apply({ type: 'delete', name: this.nameOf(event.key) });
        else this.apply({ type: 'put', name: this.nameOf(event.item.key), value: this.collection.parse(event.item.key, event.item.value) });
      }
    } catch (err) {
      if (this.stopped) return;
      if (isPosternError(err, 'WATCH_CLOSED')) {
        this.log.warn(`watch of ${this.collection.prefix} fell behind; reading it again`, { err });
        await this.start().catch((e: unknown) => this.log.error(`reloading ${this.collection.prefix} failed`, { err: e }));
      } else {
        this.log.error(`watch of ${this.collection.prefix} failed`, { err });
      }
    }
  }

  private apply(change: MirrorChange<z.output<S>>): void {
    if (change.type === 'put') this.items.set(change.name, change.value);
    else if (!this.items.delete(change.name)) return;
    for (const listener of this.listeners) listener(change);
  }

  private nameOf(key: string): string {
    return key.slice(this.collection.prefix.length);
  }
}
