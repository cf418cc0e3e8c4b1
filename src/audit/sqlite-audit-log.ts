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
 * Appends are written together, in one transaction, this long after the first of them (or at
 * once when this many wait): a write transaction costs ~0.25 ms of the event loop, and paid when
 * a tunnel opens it would delay the tunnel's first bytes. `emit` resolves once its event is
 * written; `close` writes what is waiting.
 */
const WRITE_DELAY_MS = 5;
const WRITE_BATCH = 256;

interface PendingAppend {
  data: AuditEventData;
  time: number;
  resolve: (event: AuditEvent) => void;
  reject: (err: Error) => void;
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
    // Built (and checked) now, with the time it happened; written with the next batch.
    const now = new Date();
    const data = buildAuditEvent(input, now, randomUUID());
    return new Promise((resolve, reject) => {
      this.pending.push({ data, time: now.getTime(), resolve, reject });
      if (this.pending.length >= WRITE_BATCH) this.write();
      else this.writeTimer ??= setTimeout(() => this.write(), WRITE_DELAY_MS);
    });
  }

  /** Writes the waiting appends in one transaction, then settles their promises and wakes followers. */
  private write(): void {
    clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    let indexes: number[];
    try {
      indexes = this.db
        .transaction(() =>
          batch.map(({ data, time }) => {
            const user = typeof data.user === 'string' ? data.user : null;
            return Number(this.stmts.insert.run(data.uid, time, data.event, user, JSON.stringify(data)).lastInsertRowid);
          }),
        )
        .immediate();
    } catch (err) {
      const failure = new PosternError('STORAGE_UNAVAILABLE', `writing to the audit log in ${this.opts.path} failed: ${(err as Error).message}`, { cause: err });
      for (const p of batch) p.reject(failure);
      return;
    }
    batch.forEach((p, i) => p.resolve({ ...p.data, index: indexes[i]! }));
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
