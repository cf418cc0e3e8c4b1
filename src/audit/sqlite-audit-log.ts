import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { PosternError } from '../errors/postern-error.js';
import { openDatabase } from '../storage/sqlite/sqlite-backend.js';
import { AuditFollowerCursor } from './audit-follower.js';
import { AUDIT_SCHEMA, type AuditRow, type AuditRowWriter } from './sqlite-audit-rows.js';
import { InlineWriter, ThreadWriter } from './sqlite-audit-writers.js';
import { buildAuditEvent, DEFAULT_QUERY_LIMIT, seriesEncoder, type AuditEvent, type AuditEventData, type AuditEventInput, type AuditFollower, type AuditFollowQuery, type AuditLog, type AuditQuery, type AuditSeries } from './audit-log.js';

export interface SqliteAuditLogOptions {
  /** The database file, the backend's own (`<data_dir>/postern.db`); created 0600 with its directory 0700. */
  path: string;
  /**
   * Who builds and inserts events: `inline`, on this thread (the default), or `thread`, a writer
   * thread of its own, for a server whose event loop carries sessions.
   */
  writer?: 'inline' | 'thread';
  /** How often followers look for events appended by other processes. */
  pollIntervalMs?: number;
}

/** A row as queries read it. */
interface StoredRow {
  index: number;
  data: string;
}

type Param = string | number;

/** Events a follower reads from the table at a time. */
const FOLLOW_BATCH = 500;
/**
 * Appends are written together, in one transaction, a little after the first of them: a write
 * transaction costs ~0.25 ms whatever it holds, too much to pay per event (a database session
 * can send thousands of statements a second), and on the event loop (the inline writer) it
 * would delay a tunnel's first bytes. An emit() that is awaited is written within WRITE_DELAY_MS; appends nobody waits for,
 * within APPEND_DELAY_MS (larger batches cost less per row: ~5 µs against ~20 µs measured with
 * a statement's events at 5k a second); either way at once when WRITE_BATCH wait. `close` writes
 * what is waiting.
 */
const WRITE_DELAY_MS = 5;
const APPEND_DELAY_MS = 50;
const WRITE_BATCH = 256;

/** An event waiting for its batch. */
interface PendingAppend {
  row: AuditRow;
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
  private readonly writer: AuditRowWriter;
  /** Batches handed to the writer and not yet written. */
  private readonly writing = new Set<Promise<void>>();

  constructor(private readonly opts: SqliteAuditLogOptions) {
    this.db = openDatabase(opts.path);
    this.db.exec(AUDIT_SCHEMA);
    this.writer = opts.writer === 'thread' ? new ThreadWriter(opts.path) : new InlineWriter(this.db);
    this.stmts = {
      maxIndex: this.db.prepare<[], { idx: number | null }>('SELECT MAX("index") AS idx FROM audit_events'),
      firstSince: this.db.prepare<[number], { idx: number | null }>('SELECT MIN("index") AS idx FROM audit_events WHERE time >= ?'),
    };
  }

  async emit(input: AuditEventInput): Promise<AuditEvent> {
    this.use();
    const { row, data } = built(input);
    return new Promise((resolve, reject) => this.enqueue({ row, waiter: { data, resolve, reject } }, WRITE_DELAY_MS));
  }

  append(input: AuditEventInput, failed: (err: Error) => void): void {
    // Nobody awaits an append, so it never throws: what comes after close() is reported lost.
    if (this.closed) return failed(closedError());
    let row: AuditRow;
    try {
      row = built(input).row;
    } catch (err) {
      return failed(err as Error);
    }
    this.enqueue({ row, failed }, APPEND_DELAY_MS);
  }

  series(base: AuditEventInput, failed: (err: Error) => void): AuditSeries {
    let encode: ReturnType<typeof seriesEncoder>;
    try {
      encode = seriesEncoder(base);
    } catch (err) {
      failed(err as Error);
      return { append: () => {} };
    }
    const { event } = base;
    const user = typeof base.user === 'string' ? base.user : null;
    return {
      append: (fields) => {
        if (this.closed) return failed(closedError());
        const at = Date.now();
        const uid = randomUUID();
        this.enqueue({ row: { at, uid, event, user, data: encode(fields, new Date(at), uid) }, failed }, APPEND_DELAY_MS);
      },
    };
  }

  private enqueue(append: PendingAppend, delayMs: number): void {
    this.pending.push(append);
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

  /** Hands the waiting appends to the writer as one batch; settles them and wakes followers once written. */
  private write(): void {
    clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    const written = this.writer.write(batch.map((p) => p.row)).then(
      (indexes) => {
        batch.forEach((p, i) => p.waiter?.resolve({ ...p.waiter.data, index: indexes[i]! }));
        if (this.followers.size > 0) this.notifyFollowers();
      },
      (err: Error) => {
        const failure = new PosternError('STORAGE_UNAVAILABLE', `writing to the audit log in ${this.opts.path} failed: ${err.message}`, { cause: err });
        for (const p of batch) (p.waiter?.reject ?? p.failed)?.(failure);
      },
    );
    this.writing.add(written);
    void written.finally(() => this.writing.delete(written));
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
      .prepare<Param[], StoredRow>(sql)
      .all(...filter.params, q.limit ?? DEFAULT_QUERY_LIMIT)
      .map(toEvent);
  }

  follow(q: AuditFollowQuery): AuditFollower {
    this.use();
    const filter = and(conditions(q));
    const read = this.db.prepare<Param[], StoredRow>(`SELECT "index", data FROM audit_events WHERE "index" > ? AND ${filter.sql} ORDER BY "index" LIMIT ${FOLLOW_BATCH}`);
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
    this.closed = true;
    this.write();
    await Promise.all(this.writing);
    await this.writer.close();
    for (const f of this.followers) f.close();
    this.db.close();
  }

  private use(): void {
    if (this.closed) throw closedError();
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

function toEvent(row: StoredRow): AuditEvent {
  return { ...(JSON.parse(row.data) as AuditEventData), index: row.index };
}

/** An event as stored, and its row: built here, so that the writer (a thread, perhaps) only inserts. */
function built(input: AuditEventInput): { row: AuditRow; data: AuditEventData } {
  const at = Date.now();
  const uid = randomUUID();
  const data = buildAuditEvent(input, new Date(at), uid);
  return { data, row: { at, uid, event: data.event, user: typeof data.user === 'string' ? data.user : null, data: JSON.stringify(data) } };
}

function closedError(): PosternError {
  return new PosternError('STORAGE_UNAVAILABLE', 'the audit log is closed');
}
