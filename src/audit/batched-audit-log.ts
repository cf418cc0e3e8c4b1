import { randomUUID } from 'node:crypto';
import { PosternError } from '../errors/postern-error.js';
import { AuditFollowerCursor } from './audit-follower.js';
import { builtRow, type AuditRow, type AuditTable } from './audit-rows.js';
import { DEFAULT_QUERY_LIMIT, seriesEncoder, type AuditEvent, type AuditEventData, type AuditEventInput, type AuditFollower, type AuditFollowQuery, type AuditLog, type AuditQuery, type AuditSeries } from './audit-log.js';

export interface BatchedAuditLogOptions {
  /** Where the events go, and its name for messages (a file's path, a database's host). */
  table: AuditTable;
  where: string;
  /** How often followers look for events appended by other processes. */
  pollIntervalMs?: number;
}

/** Events a follower reads from the table at a time. */
const FOLLOW_BATCH = 500;
/**
 * Appends are written together, in one transaction, a little after the first of them: a write
 * transaction costs ~0.25 ms whatever it holds (SQLite; a round trip and more on PostgreSQL), too
 * much to pay per event (a database session can send thousands of statements a second), and on
 * the event loop (SQLite's inline writer) it would delay a tunnel's first bytes. An emit() that
 * is awaited is written within WRITE_DELAY_MS; appends nobody waits for, within APPEND_DELAY_MS
 * (larger batches cost less per row: ~5 µs against ~20 µs measured with a statement's events at
 * 5k a second); either way at once when WRITE_BATCH wait. `close` writes what is waiting.
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
 * The audit log over a table (SQLite's, PostgreSQL's): events are built here and written in
 * small batches (see WRITE_DELAY_MS); followers read by index, so they see every process's
 * events in commit order; this process's appends wake them at once, others within one poll.
 */
export class BatchedAuditLog implements AuditLog {
  private readonly followers = new Set<AuditFollowerCursor>();
  /** The newest index the poll has seen (meaningful while there are followers). */
  private seenIndex = 0;
  private pollTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private pending: PendingAppend[] = [];
  private writeTimer: NodeJS.Timeout | undefined;
  /** When the scheduled write runs (performance.now()). */
  private writeDue = 0;
  /** Batches handed to the table and not yet written. */
  private readonly writing = new Set<Promise<void>>();
  private readonly table: AuditTable;

  constructor(private readonly opts: BatchedAuditLogOptions) {
    this.table = opts.table;
  }

  async emit(input: AuditEventInput): Promise<AuditEvent> {
    this.use();
    const { row, data } = builtRow(input);
    return new Promise((resolve, reject) => this.enqueue({ row, waiter: { data, resolve, reject } }, WRITE_DELAY_MS));
  }

  append(input: AuditEventInput, failed: (err: Error) => void): void {
    // Nobody awaits an append, so it never throws: what comes after close() is reported lost.
    if (this.closed) return failed(closedError());
    let row: AuditRow;
    try {
      row = builtRow(input).row;
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

  async query(q: AuditQuery): Promise<AuditEvent[]> {
    this.use();
    return this.table.query({ ...q, limit: q.limit ?? DEFAULT_QUERY_LIMIT });
  }

  follow(q: AuditFollowQuery): AuditFollower {
    this.use();
    const start = (async () => {
      const maxIndex = await this.table.maxIndex();
      this.seenIndex = Math.max(this.seenIndex, maxIndex);
      const first = q.since && (await this.table.firstIndexSince(q.since));
      return first !== undefined ? first - 1 : maxIndex;
    })();
    const follower = new AuditFollowerCursor((after) => this.table.readAfter(q, after, FOLLOW_BATCH), start, () => this.unfollow(follower));
    this.followers.add(follower);
    // Not unref'd, unlike the backend's: following is what a process like `ctl audit ls --follow`
    // is there for, so an open follower keeps it alive until it (or the log) is closed.
    this.pollTimer ??= setInterval(() => void this.poll(), this.opts.pollIntervalMs ?? 200);
    return follower;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.write();
    await Promise.all(this.writing);
    for (const f of this.followers) f.close();
    await this.table.close();
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

  /** Hands the waiting appends to the table as one batch; settles them and wakes followers once written. */
  private write(): void {
    clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    const written = this.table.write(batch.map((p) => p.row)).then(
      (indexes) => {
        batch.forEach((p, i) => p.waiter?.resolve({ ...p.waiter.data, index: indexes[i]! }));
        if (this.followers.size > 0) this.notifyFollowers();
      },
      (err: Error) => {
        const failure = new PosternError('STORAGE_UNAVAILABLE', `writing to the audit log in ${this.opts.where} failed: ${err.message}`, { cause: err });
        for (const p of batch) (p.waiter?.reject ?? p.failed)?.(failure);
      },
    );
    this.writing.add(written);
    void written.finally(() => this.writing.delete(written));
  }

  private use(): void {
    if (this.closed) throw closedError();
  }

  /** Wakes followers when another process (or this one) has appended since the last look. */
  private async poll(): Promise<void> {
    let newest: number;
    try {
      newest = await this.table.maxIndex();
    } catch {
      return; // the store is away: the next poll looks again
    }
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

function closedError(): PosternError {
  return new PosternError('STORAGE_UNAVAILABLE', 'the audit log is closed');
}
