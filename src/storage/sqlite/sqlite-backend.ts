import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { PosternError } from '../../errors/postern-error.js';
import type { Backend, Item, PutOptions, WatchEvent, Watcher } from '../backend.js';
import { prefixEnd } from '../keys.js';
import { WatcherQueue } from '../watcher-queue.js';

/** The path of the embedded store inside a data directory (the backend and the audit log share it). */
export function storePath(dataDir: string): string {
  return join(dataDir, 'postern.db');
}

export interface SqliteBackendOptions {
  /** The database file; created 0600 with its directory 0700. */
  path: string;
  /** How often watchers look for writes made by other processes. */
  pollIntervalMs?: number;
  /** How often expired items are deleted (and their delete events sent). */
  sweepIntervalMs?: number;
  /** How long change events are kept for watchers that poll. */
  eventRetentionMs?: number;
}

interface Row {
  key: string;
  value: string;
  expires: number | null;
  revision: number;
}

interface EventRow {
  id: number;
  type: 'put' | 'delete';
  key: string;
  value: string | null;
  expires: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  expires INTEGER,
  revision INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT,
  expires INTEGER,
  created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_created ON events (created);
`;

/** Old events are pruned this often (and kept for eventRetentionMs). */
const PRUNE_INTERVAL_MS = 60_000;

/**
 * The embedded backend. Several processes may open one file (the server and `postern ctl`): SQLite
 * in WAL mode serialises writers, and every write appends to an `events` table in the same
 * transaction. Watchers read that table by id, so they see every process's writes in commit
 * order; writes from this process wake them at once, others within one poll interval.
 */
export class SqliteBackend implements Backend {
  private readonly db: Database.Database;
  private readonly watchers = new Set<{ prefix: string; queue: WatcherQueue }>();
  /** The last event delivered to this process's watchers (meaningful while there are watchers). */
  private lastEventId = 0;
  private lastPrune = 0;
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;
  private readonly stmts;

  constructor(private readonly opts: SqliteBackendOptions) {
    this.db = openDatabase(opts.path);
    this.db.exec(SCHEMA);
    this.stmts = {
      get: this.db.prepare<[string, number], Row>('SELECT key, value, expires, revision FROM kv WHERE key = ? AND (expires IS NULL OR expires > ?)'),
      range: this.db.prepare<[string, string, number, number], Row>(
        'SELECT key, value, expires, revision FROM kv WHERE key >= ? AND key < ? AND (expires IS NULL OR expires > ?) ORDER BY key LIMIT ?',
      ),
      revisionOf: this.db.prepare<[string, number], { revision: number }>('SELECT revision FROM kv WHERE key = ? AND (expires IS NULL OR expires > ?)'),
      event: this.db.prepare<[string, string, string | null, number | null, number]>(
        'INSERT INTO events (type, key, value, expires, created) VALUES (?, ?, ?, ?, ?)',
      ),
      upsert: this.db.prepare<[string, string, number | null, number]>(
        'INSERT INTO kv (key, value, expires, revision) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires, revision = excluded.revision',
      ),
      remove: this.db.prepare<[string]>('DELETE FROM kv WHERE key = ?'),
      renew: this.db.prepare<[number, string, number]>('UPDATE kv SET expires = ? WHERE key = ? AND expires IS NOT NULL AND expires > ?'),
      expired: this.db.prepare<[number], { key: string }>('SELECT key FROM kv WHERE expires IS NOT NULL AND expires <= ?'),
      anyExpired: this.db.prepare<[number], { key: string }>('SELECT key FROM kv WHERE expires IS NOT NULL AND expires <= ? LIMIT 1'),
      eventsAfter: this.db.prepare<[number], EventRow>('SELECT id, type, key, value, expires FROM events WHERE id > ? ORDER BY id LIMIT 1000'),
      maxEventId: this.db.prepare<[], { id: number | null }>('SELECT MAX(id) AS id FROM events'),
      pruneEvents: this.db.prepare<[number]>('DELETE FROM events WHERE created < ? AND id < (SELECT MAX(id) FROM events)'),
    };
    this.sweepTimer = setInterval(() => this.sweep(), opts.sweepIntervalMs ?? 1000).unref();
  }

  async get(key: string): Promise<Item | undefined> {
    const row = this.use().stmts.get.get(key, Date.now());
    return row && toItem(row);
  }

  async put(key: string, value: string, opts?: PutOptions): Promise<Item> {
    return this.write(() => this.upsert(key, value, opts?.expires));
  }

  async compareAndSwap(key: string, expected: number | null, value: string, opts?: PutOptions): Promise<Item> {
    return this.write(() => {
      const current = this.stmts.revisionOf.get(key, Date.now())?.revision ?? null;
      if (current !== expected) {
        throw new PosternError(
          'COMPARE_FAILED',
          expected === null ? `${key} exists already` : `${key} changed since it was read (revision ${expected}, now ${current ?? 'deleted'}); read it again and retry`,
        );
      }
      return this.upsert(key, value, opts?.expires);
    });
  }

  async touch(keys: string[], expires: Date): Promise<string[]> {
    const now = Date.now();
    return this.write(() => keys.filter((key) => this.stmts.renew.run(expires.getTime(), key, now).changes === 0));
  }

  async delete(key: string): Promise<boolean> {
    return this.write(() => {
      if (!this.stmts.revisionOf.get(key, Date.now())) return false;
      this.remove(key);
      return true;
    });
  }

  async range(prefix: string, opts?: { limit?: number }): Promise<Item[]> {
    return this.use().stmts.range.all(prefix, prefixEnd(prefix), Date.now(), opts?.limit ?? -1).map(toItem);
  }

  watch(prefix: string): Watcher {
    this.use();
    // Start at the newest event: a watcher sees writes from now on, never older ones.
    if (this.watchers.size === 0) this.lastEventId = this.stmts.maxEventId.get()?.id ?? 0;
    else this.poll();
    const entry = { prefix, queue: new WatcherQueue(() => this.unwatch(entry)) };
    this.watchers.add(entry);
    this.pollTimer ??= setInterval(() => this.poll(), this.opts.pollIntervalMs ?? 100).unref();
    return entry.queue;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.poll();
    this.closed = true;
    clearInterval(this.sweepTimer);
    clearInterval(this.pollTimer);
    for (const w of this.watchers) w.queue.close();
    this.db.close();
  }

  private use(): this {
    if (this.closed) throw new PosternError('STORAGE_UNAVAILABLE', 'the storage backend is closed');
    return this;
  }

  /** Runs `fn` in a write transaction (BEGIN IMMEDIATE, so two processes never deadlock), then wakes watchers. */
  private write<T>(fn: () => T): T {
    this.use();
    let result: T;
    try {
      result = this.db.transaction(fn).immediate();
    } catch (err) {
      if (err instanceof PosternError) throw err;
      throw new PosternError('STORAGE_UNAVAILABLE', `writing to ${this.opts.path} failed: ${(err as Error).message}`, { cause: err });
    }
    if (this.watchers.size > 0) queueMicrotask(() => this.poll());
    return result;
  }

  private upsert(key: string, value: string, expires: Date | undefined): Item {
    const exp = expires ? expires.getTime() : null;
    const revision = Number(this.stmts.event.run('put', key, value, exp, Date.now()).lastInsertRowid);
    this.stmts.upsert.run(key, value, exp, revision);
    return toItem({ key, value, expires: exp, revision });
  }

  private remove(key: string): void {
    this.stmts.event.run('delete', key, null, null, Date.now());
    this.stmts.remove.run(key);
  }

  /**
   * Deletes expired items, so that watchers hear of the expiry, and now and then prunes old events.
   * It takes the write lock only when there is something to do: better-sqlite3 is synchronous, so
   * waiting for a lock another process holds would stall this process's event loop.
   */
  private sweep(): void {
    if (this.closed) return;
    const now = Date.now();
    const prune = now - this.lastPrune >= PRUNE_INTERVAL_MS;
    if (!prune && !this.stmts.anyExpired.get(now)) return;
    try {
      this.write(() => {
        for (const { key } of this.stmts.expired.all(now)) this.remove(key);
        if (prune) this.stmts.pruneEvents.run(now - (this.opts.eventRetentionMs ?? 10 * 60_000));
      });
      if (prune) this.lastPrune = now;
    } catch {
      // Another process held the write lock past busy_timeout; the next sweep retries.
    }
  }

  private poll(): void {
    if (this.closed || this.watchers.size === 0) return;
    for (;;) {
      const rows = this.stmts.eventsAfter.all(this.lastEventId);
      // Event ids have no holes (AUTOINCREMENT, and a rolled-back write rolls its id back too), so
      // a jump means events were pruned before this process read them: its watchers missed changes.
      if (rows.length > 0 && rows[0]!.id > this.lastEventId + 1) {
        const err = new PosternError('WATCH_CLOSED', `this process fell more than the event retention behind (events ${this.lastEventId + 1}-${rows[0]!.id - 1} are gone); read the state again and watch anew`);
        for (const w of this.watchers) w.queue.fail(err);
        this.lastEventId = rows[0]!.id - 1;
      }
      for (const row of rows) {
        this.lastEventId = row.id;
        const event: WatchEvent =
          row.type === 'put'
            ? { type: 'put', item: toItem({ key: row.key, value: row.value ?? '', expires: row.expires, revision: row.id }) }
            : { type: 'delete', key: row.key, revision: row.id };
        for (const w of this.watchers) if (row.key.startsWith(w.prefix)) w.queue.push(event);
      }
      if (rows.length < 1000) return;
    }
  }

  private unwatch(entry: { prefix: string; queue: WatcherQueue }): void {
    this.watchers.delete(entry);
    if (this.watchers.size === 0) {
      clearInterval(this.pollTimer);
      this.pollTimer = undefined;
    }
  }
}

/** Opens (creating it 0600 in a 0700 directory if need be) the SQLite file, in WAL mode with a 5 s busy timeout. */
export function openDatabase(path: string): Database.Database {
  try {
    const dir = join(path, '..');
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Create the file 0600 before SQLite opens it (the -wal and -shm files copy its mode).
    if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    return db;
  } catch (err) {
    throw new PosternError(
      'STORAGE_UNAVAILABLE',
      `cannot open the store at ${path}: ${(err as Error).message}; check that the data directory exists and is writable by this user`,
      { cause: err },
    );
  }
}

function toItem(row: Row): Item {
  return row.expires === null
    ? { key: row.key, value: row.value, revision: row.revision }
    : { key: row.key, value: row.value, revision: row.revision, expires: new Date(row.expires) };
}
