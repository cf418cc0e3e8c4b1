import { randomUUID } from 'node:crypto';
import { BULK_EVENTS } from './events.js';
import { buildAuditEvent, type AuditEvent, type AuditEventData, type AuditEventInput, type AuditFollowQuery, type AuditQuery } from './audit-log.js';

/**
 * An event on its way to a table, built and serialised by the log that took it (so a writer only
 * inserts): its columns, `data` being the whole stored event as JSON.
 */
export interface AuditRow {
  /** Milliseconds since the epoch. */
  at: number;
  uid: string;
  event: string;
  user: string | null;
  data: string;
}

/**
 * Where a log's events are kept (SQLite's file, a PostgreSQL database): it writes batches in
 * order and reads by filter. Its indexes are `index` (the key), time, and type and user for all
 * but bulk events (see NOT_BULK).
 */
export interface AuditTable {
  /** Writes the rows in one transaction, in order; answers their indexes. */
  write(rows: AuditRow[]): Promise<number[]>;
  /** The matching events, per `q` (filters, range, order, limit). */
  query(q: AuditQuery): Promise<AuditEvent[]>;
  /** The matching events after `index`, oldest first, at most `limit`. */
  readAfter(q: AuditFollowQuery, index: number, limit: number): Promise<AuditEvent[]>;
  /** The newest index (0 for none). */
  maxIndex(): Promise<number>;
  /** The first index at or after `since`, if any. */
  firstIndexSince(since: Date): Promise<number | undefined>;
  /** After the writes it was given. */
  close(): Promise<void>;
}

/**
 * Rows that are not bulk events (BULK_EVENTS), as SQL: the condition of the indexes by type and
 * user, which a query must carry word for word for the database to use them (SQLite's planner
 * proves a partial index usable only from a term it can match).
 */
export const NOT_BULK = `event NOT IN (${BULK_EVENTS.map((type) => `'${type}'`).join(', ')})`;

/** One SQL condition (with `?` placeholders) and the values of its placeholders. */
export interface Term {
  sql: string;
  params: (string | number)[];
}

/**
 * The filters follow() and query() share, as one condition. An empty `types` filters nothing,
 * like an absent one. Types that leave out bulk events say so in NOT_BULK's words, which lets the
 * indexes by type and user serve; with bulk events, the search goes by time or index.
 */
export function filterOf(q: AuditQuery): Term {
  const terms: Term[] = [];
  if (q.since) terms.push({ sql: 'time >= ?', params: [q.since.getTime()] });
  if (q.until) terms.push({ sql: 'time < ?', params: [q.until.getTime()] });
  if (q.afterIndex !== undefined) terms.push({ sql: '"index" > ?', params: [q.afterIndex] });
  if (q.types?.length) terms.push({ sql: `event IN (${q.types.map(() => '?').join(', ')})`, params: q.types });
  if (q.types?.length && !q.types.some((type) => BULK_EVENTS.includes(type))) terms.push({ sql: NOT_BULK, params: [] });
  if (q.user !== undefined) terms.push({ sql: '"user" = ?', params: [q.user] });
  return terms.length === 0 ? { sql: 'TRUE', params: [] } : { sql: terms.map((t) => t.sql).join(' AND '), params: terms.flatMap((t) => t.params) };
}

/** The stored JSON and index of a row, as an event. */
export function toEvent(index: number, data: string): AuditEvent {
  return { ...(JSON.parse(data) as AuditEventData), index };
}

/** An event as stored, and its row: built by the log, so that the writer (a thread, perhaps) only inserts. */
export function builtRow(input: AuditEventInput): { row: AuditRow; data: AuditEventData } {
  const at = Date.now();
  const uid = randomUUID();
  const data = buildAuditEvent(input, new Date(at), uid);
  return { data, row: { at, uid, event: data.event, user: typeof data.user === 'string' ? data.user : null, data: JSON.stringify(data) } };
}
