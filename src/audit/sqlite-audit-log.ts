import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { PosternError } from '../errors/postern-error.js';
import { openDatabase } from '../storage/sqlite/sqlite-backend.js';
import { AuditFollowerCursor } from './audit-follower.js';
import { buildAuditEvent, DEFAULT_QUERY_LIMIT, type AuditEvent, type AuditEventData, type AuditEventInput, type AuditFollower, type AuditFollowQuery, type AuditLog, type AuditQuery } from './audit-log.js';

export interface SqliteAuditLogOptions {
  /** The database file, the backend's own (`<data_dir>/postern.db`); created 0600 with its directory 0700. */
  path: string;
  /** How often followers look for events appended by other processes. */
  pollIntervalMs?: number;
}

interface Row {
  index: number;
  data: string;
}

type Param = string | number;

// `data` is the whole event but its index, which is the row's own key.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_events (
  "index" INTEGER PRIMARY KEY AUTOINCREMENT,
  uid TEXT NOT NULL,
  time INTEGER NOT NULL,
  event TEXT NOT NULL,
  user TEXT,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (time);
CREATE INDEX IF NOT EXISTS audit_events_event ON audit_events (event);
CREATE INDEX IF NOT EXISTS audit_events_user ON audit_events (user);
`;

/** Events a follower reads from the table at a time. */
const FOLLOW_BATCH = 500;
/**
 * Appends are written together, in one transaction, a little after the first of them: a write
 * transaction costs ~0.25 ms of the event loop whatever it holds, and paid per event (a database
 * session can send thousands of statements a second) or when a tunnel opens it would delay
 * bytes. An emit() that is awaited is written within WRITE_DELAY_MS; appends nobody waits for,
 * within APPEND_DELAY_MS (larger batches cost less per row: ~5 µs against ~20 µs measured with
 * a statement's events at 5k a second); either way at once when WRITE_BATCH wait. `close` writes
 * what is waiting.
 */
const WRITE_DELAY_MS = 5;
const APPEND_DELAY_MS = 50;
const WRITE_BATCH = 256;

/** An event waiting for its batch: as its row will hold it, already serialised (one string to keep, not an object graph). */
interface PendingAppend {
  uid: string;
  time: number;
  event: string;
  user: string | null;
  json: string;
  /** emit()'s: the event to resolve with. */
  waiter?: { data: AuditEventData; resolve: (event: AuditEvent) => void; reject: (err: Error) => void };
  /** append()'s. */
  failed?: (err: Error) => void;
}

/**
 * The audit log in the SQLite file the backend uses, through a connection of its own. Several
 * processes append and follow at once (the server, and `postern ctl audit ls --follow`): appends
 * are written in small batches (see WRITE_DELAY_MS), and followers read by index, so they see
 * every process's events in commit order; this process's appends wake them at once, others
 * within one poll.
 */
export class SqliteAuditLog implements AuditLog {
  private readonly db: Database.Database;
  private readonly followers = new Set<AuditFollowerCursor>();
  /** The newest index the poll has seen (meaningful while there are followers). */
  private seenIndex = 0;
  private pollTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly stmts;
  private pending: PendingAppend[] = [];
  private writeTimer: NodeJS.Timeout | undefined;
  /** When the scheduled write runs (performance.now()). */
  private writeDue = 0;

  constructor(private readonly opts: SqliteAuditLogOptions) {
    this.db = openDatabase(opts.path);
    this.db.exec(SCHEMA);
    this.stmts = {
      insert: this.db.prepare<[string, number, string, string | null, string]>('INSERT INTO audit_events (uid, time, event, user, data) VALUES (?, ?, ?, ?, ?)'),
      maxIndex: this.db.prepare<[], { idx: number | null }>('SELECT MAX("index") AS idx FROM audit_events'),
      firstSince: this.db.prepare<[number], { idx: number | null }>('SELECT MIN("index") AS idx FROM audit_events WHERE time >= ?'),
    };
  }

  async emit(input: AuditEventInput): Promise<AuditEvent> {
    this.use();
    const now = new Date();
    const data = buildAuditEvent(input, now, randomUUID());
    return new Promise((resolve, reject) => this.enqueue(data, now, WRITE_DELAY_MS, { waiter: { data, resolve, reject } }));
  }

  append(input: AuditEventInput, failed: (err: Error) => void): void {
    this.use();
    const now = new Date();
    this.enqueue(buildAuditEvent(input, now, randomUUID()), now, APPEND_DELAY_MS, { failed });
  }

  /** Built (and checked) when it happened, by the caller; written with the next batch. */
  private enqueue(data: AuditEventData, at: Date, delayMs: number, settle: Pick<PendingAppend, 'waiter' | 'failed'>): void {
    const user = typeof data.user === 'string' ? data.user : null;
    this.pending.push({ uid: data.uid, time: at.getTime(), event: data.event, user, json: JSON.stringify(data), ...settle });
    this.scheduleWrite(this.pending.length >= WRITE_BATCH ? 0 : delayMs);
  }

  /** Writes within `delayMs`, or sooner if a write is already due sooner. */
  private scheduleWrite(delayMs: number): void {
    const due = performance.now() + delayMs;
    if (this.writeTimer && this.writeDue <= due) return;
    clearTimeout(this.writeTimer);
    this.writeDue = due;
    this.writeTimer = setTimeout(() => this.write(), delayMs);
  }

  /** Writes the waiting appends in one transaction, then settles them and wakes followers. */
  private write(): void {
    clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    let indexes: number[];
    try {
      indexes = this.db.transaction(() => batch.map((p) => Number(this.stmts.insert.run(p.uid, p.time, p.event, p.user, p.json).lastInsertRowid))).immediate();
    } catch (err) {
      const failure = new PosternError('STORAGE_UNAVAILABLE', `writing to the audit log in ${this.opts.path} failed: ${(err as Error).message}`, { cause: err });
      for (const p of batch) (p.waiter?.reject ?? p.failed)?.(failure);
      return;
    }
    batch.forEach((p, i) => p.waiter?.resolve({ ...p.waiter.data, index: indexes[i]! }));
    if (this.followers.size > 0) this.notifyFollowers();
  }

  async query(q: AuditQuery): Promise<AuditEvent[]> {
    this.use();
    const filter = and([
      ...conditions(q),
      ...(q.until ? [{ sql: 'time < ?', params: [q.until.getTime()] }] : []),
      ...(q.afterIndex !== undefined ? [{ sql: '"index" > ?', params: [q.afterIndex] }] : []),
    ]);
    const sql = `SELECT "index", data FROM audit_events WHERE ${filter.sql} ORDER BY "index" ${q.order === 'desc' ? 'DESC' : 'ASC'} LIMIT ?`;
    return this.db
      .prepare<Param[], Row>(sql)
      .all(...filter.params, q.limit ?? DEFAULT_QUERY_LIMIT)
      .map(toEvent);
  }

  follow(q: AuditFollowQuery): AuditFollower {
    this.use();
    const filter = and(conditions(q));
    const read = this.db.prepare<Param[], Row>(`SELECT "index", data FROM audit_events WHERE "index" > ? AND ${filter.sql} ORDER BY "index" LIMIT ${FOLLOW_BATCH}`);
    const maxIndex = this.stmts.maxIndex.get()?.idx ?? 0;
    if (this.followers.size === 0) this.seenIndex = maxIndex;
    const first = q.since && this.stmts.firstSince.get(q.since.getTime())?.idx;
    const follower = new AuditFollowerCursor(
      (after) => read.all(after, ...filter.params).map(toEvent),
      typeof first === 'number' ? first - 1 : maxIndex,
      () => this.unfollow(follower),
    );
    this.followers.add(follower);
    // Not unref'd, unlike the backend's: following is what a process like `ctl audit ls --follow`
    // is there for, so an open follower keeps it alive until it (or the log) is closed.
    this.pollTimer ??= setInterval(() => this.poll(), this.opts.pollIntervalMs ?? 200);
    return follower;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.write();
    for (const f of this.followers) f.close();
    this.closed = true;
    this.db.close();
  }

  private use(): void {
    if (this.closed) throw new PosternError('STORAGE_UNAVAILABLE', 'the audit log is closed');
  }

  /** Wakes followers when another process (or this one) has appended since the last look. */
  private poll(): void {
    const newest = this.stmts.maxIndex.get()?.idx ?? 0;
    if (newest <= this.seenIndex) return;
    this.seenIndex = newest;
    this.notifyFollowers();
  }

  private notifyFollowers(): void {
    for (const f of this.followers) f.notify();
  }

  private unfollow(follower: AuditFollowerCursor): void {
    this.followers.delete(follower);
    if (this.followers.size === 0) {
      clearInterval(this.pollTimer);
      this.pollTimer = undefined;
    }
  }
}

/** One SQL condition and the values of its placeholders. */
interface Term {
  sql: string;
  params: Param[];
}

/** The filters follow() and query() share. An empty `types` filters nothing, like an absent one. */
function conditions(q: AuditFollowQuery): Term[] {
  const terms: Term[] = [];
  if (q.since) terms.push({ sql: 'time >= ?', params: [q.since.getTime()] });
  if (q.types?.length) terms.push({ sql: `event IN (${q.types.map(() => '?').join(', ')})`, params: q.types });
  if (q.user !== undefined) terms.push({ sql: 'user = ?', params: [q.user] });
  return terms;
}

function and(terms: Term[]): Term {
  return terms.length === 0 ? { sql: 'TRUE', params: [] } : { sql: terms.map((t) => t.sql).join(' AND '), params: terms.flatMap((t) => t.params) };
}

function toEvent(row: Row): AuditEvent {
  return { ...(JSON.parse(row.data) as AuditEventData), index: row.index };
}
