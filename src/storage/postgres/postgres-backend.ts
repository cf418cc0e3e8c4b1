import { PosternError } from '../../errors/postern-error.js';
import type { Backend, Item, PutOptions, WatchEvent, Watcher } from '../backend.js';
import { prefixEnd } from '../keys.js';
import { WatcherQueue } from '../watcher-queue.js';
import { PostgresListener } from './listener.js';
import { PostgresPool, type PostgresPoolOptions } from './postgres-pool.js';
import { storageError } from './postgres-errors.js';

export interface PostgresBackendOptions extends Omit<PostgresPoolOptions, 'applicationName'> {
  /** How often expired items are deleted (and their delete events sent). */
  sweepIntervalMs?: number;
  /** How long change events are kept for watchers that were away. */
  eventRetentionMs?: number;
}

type Row = {
  key: string;
  value: string;
  expires: string | null;
  revision: string;
};

type EventRow = {
  id: string;
  type: 'put' | 'delete';
  key: string;
  value: string | null;
  expires: string | null;
};

/** Old events are pruned this often (and kept for eventRetentionMs). */
const PRUNE_INTERVAL_MS = 60_000;
/** Events read at a time when catching up. */
const EVENT_BATCH = 1000;

/**
 * The store on PostgreSQL, for several proxies sharing one cluster (issue 19). Writes are
 * functions of the schema (schema.ts): one round trip each, serialised on one row, so revisions
 * are gapless and in commit order. Watchers learn of writes from LISTEN on a connection of their
 * own (the notification carries the revision and key, never the value) and read the events table
 * from the last revision they delivered; after a lost connection they reconnect and read on from
 * there, so no change is missed while the events are retained (10 minutes), and past that the
 * watchers end with WATCH_CLOSED and their consumers read the state again.
 *
 * Connections, the schema and errors are PostgresPool's.
 */
export class PostgresBackend implements Backend {
  private readonly db: PostgresPool;
  private readonly watchers = new Set<{ prefix: string; queue: WatcherQueue }>();
  /** The last event delivered to this process's watchers (meaningful while there are watchers). */
  private lastEventId = 0;
  private listener: PostgresListener | undefined;
  /** Reads of the events table, one after another, so deliveries stay in order. */
  private catchingUp: Promise<void> = Promise.resolve();
  private lastPrune = 0;
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly opts: PostgresBackendOptions) {
    this.db = new PostgresPool({ ...opts, applicationName: 'postern' });
    this.sweepTimer = setInterval(() => void this.sweep(), opts.sweepIntervalMs ?? 1000).unref();
  }

  async get(key: string): Promise<Item | undefined> {
    const rows = await this.query<Row>('SELECT key, value, expires, revision FROM postern_kv WHERE key = $1 AND (expires IS NULL OR expires > $2)', [key, Date.now()]);
    return rows[0] && toItem(rows[0]);
  }

  async put(key: string, value: string, opts?: PutOptions): Promise<Item> {
    return this.write(key, value, opts?.expires, undefined);
  }

  async compareAndSwap(key: string, expected: number | null, value: string, opts?: PutOptions): Promise<Item> {
    return this.write(key, value, opts?.expires, { expected });
  }

  async touch(keys: string[], expires: Date): Promise<string[]> {
    const renewed = await this.query<{ key: string }>(
      'UPDATE postern_kv SET expires = $1 WHERE key = ANY($2::text[]) AND expires IS NOT NULL AND expires > $3 RETURNING key',
      [expires.getTime(), keys, Date.now()],
    );
    const done = new Set(renewed.map((r) => r.key));
    return keys.filter((k) => !done.has(k));
  }

  async delete(key: string): Promise<boolean> {
    const [row] = await this.query<{ deleted: boolean }>('SELECT postern_delete($1, $2) AS deleted', [key, Date.now()]);
    return row!.deleted;
  }

  async range(prefix: string, opts?: { limit?: number }): Promise<Item[]> {
    const rows = await this.query<Row>(
      'SELECT key, value, expires, revision FROM postern_kv WHERE key >= $1 AND key < $2 AND (expires IS NULL OR expires > $3) ORDER BY key LIMIT $4',
      [prefix, prefixEnd(prefix), Date.now(), opts?.limit ?? null],
    );
    return rows.map(toItem);
  }

  watch(prefix: string): Watcher {
    this.use();
    // Start at the newest event: a watcher sees writes from now on, never older ones. The first
    // listens, then reads where the events stand; a later one waits for what the others are owed
    // to be delivered, then joins at that point.
    const ready = this.serially(async () => {
      if (this.watchers.size === 0) await this.listen();
      else await this.catchUp();
      if (!entry.queue.closed) this.watchers.add(entry);
    });
    const entry = { prefix, queue: new WatcherQueue(() => this.unwatch(entry), ready) };
    ready.catch((err: unknown) => entry.queue.fail(storageError(err, this.db.server, 'starting a watch')));
    return entry.queue;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const w of this.watchers) w.queue.close();
    await this.listener?.close();
    await this.db.end();
  }

  /** Starts listening for writes and reads where the events stand. */
  private async listen(): Promise<void> {
    const listener = (this.listener ??= new PostgresListener(this.opts.connectionString, this.db.server, {
      notified: (revision) => {
        if (revision > this.lastEventId) void this.serially(() => this.catchUp());
      },
      reconnected: () => void this.serially(() => this.catchUp()),
    }));
    try {
      await listener.listening();
    } catch (err) {
      if (this.listener === listener) this.listener = undefined;
      throw err;
    }
    this.lastEventId = Number((await this.query<{ id: string | null }>('SELECT max(id) AS id FROM postern_events', []))[0]?.id ?? 0);
  }

  private use(): void {
    if (this.closed) throw new PosternError('STORAGE_UNAVAILABLE', 'the storage backend is closed');
  }

  private query<R extends Record<string, unknown>>(sql: string, params: unknown[]): Promise<R[]> {
    this.use();
    return this.db.query<R>(sql, params);
  }

  private async write(key: string, value: string, expires: Date | undefined, cas: { expected: number | null } | undefined): Promise<Item> {
    const exp = expires ? expires.getTime() : null;
    const [row] = await this.query<{ revision: string | null; current: string | null }>(
      'SELECT revision, current FROM postern_put($1, $2, $3, $4, $5, $6)',
      [key, value, exp, Date.now(), cas !== undefined, cas?.expected ?? null],
    );
    if (row!.revision === null) {
      const current = row!.current === null ? null : Number(row!.current);
      throw new PosternError(
        'COMPARE_FAILED',
        cas!.expected === null ? `${key} exists already` : `${key} changed since it was read (revision ${cas!.expected}, now ${current ?? 'deleted'}); read it again and retry`,
      );
    }
    return toItem({ key, value, expires: exp === null ? null : String(exp), revision: row!.revision });
  }

  /** Deletes expired items and now and then prunes old events; a failure waits for the next sweep. */
  private async sweep(): Promise<void> {
    if (this.closed) return;
    const now = Date.now();
    const prune = now - this.lastPrune >= PRUNE_INTERVAL_MS;
    try {
      await this.query('SELECT postern_sweep($1, $2)', [now, prune ? now - (this.opts.eventRetentionMs ?? 10 * 60_000) : null]);
      if (prune) this.lastPrune = now;
    } catch {
      // The database is away; readiness reports it, and the next sweep retries.
    }
  }

  /** Chains `fn` after the reads before it. */
  private serially(fn: () => Promise<void>): Promise<void> {
    const next = this.catchingUp.then(fn);
    this.catchingUp = next.catch(() => {});
    return next;
  }

  /** Delivers the events after the last one delivered. */
  private async catchUp(): Promise<void> {
    while (!this.closed && this.watchers.size > 0) {
      let rows: EventRow[];
      try {
        rows = await this.query<EventRow>('SELECT id, type, key, value, expires FROM postern_events WHERE id > $1 ORDER BY id LIMIT $2', [this.lastEventId, EVENT_BATCH]);
      } catch {
        return; // the listener's reconnection reads on from here
      }
      if (rows.length > 0 && Number(rows[0]!.id) > this.lastEventId + 1) {
        const err = new PosternError('WATCH_CLOSED', `this process fell more than the event retention behind (events ${this.lastEventId + 1}-${Number(rows[0]!.id) - 1} are gone); read the state again and watch anew`);
        for (const w of this.watchers) w.queue.fail(err);
        this.lastEventId = Number(rows[0]!.id) - 1;
      }
      for (const row of rows) {
        const revision = Number(row.id);
        this.lastEventId = revision;
        const event: WatchEvent =
          row.type === 'put' ? { type: 'put', item: toItem({ key: row.key, value: row.value ?? '', expires: row.expires, revision: row.id }) } : { type: 'delete', key: row.key, revision };
        for (const w of this.watchers) if (row.key.startsWith(w.prefix)) w.queue.push(event);
      }
      if (rows.length < EVENT_BATCH) return;
    }
  }

  private unwatch(entry: { prefix: string; queue: WatcherQueue }): void {
    this.watchers.delete(entry);
    if (this.watchers.size === 0 && this.listener) {
      void this.listener.close();
      this.listener = undefined;
    }
  }
}

function toItem(row: Row): Item {
  const item: Item = { key: row.key, value: row.value, revision: Number(row.revision) };
  if (row.expires !== null) item.expires = new Date(Number(row.expires));
  return item;
}
