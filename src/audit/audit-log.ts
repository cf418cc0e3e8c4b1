import { PosternError } from '../errors/postern-error.js';
import { isSecretName, redact, REDACTED, type Logger } from '../log/logger.js';
import { AUDIT_EVENTS, isAuditEventType, type AuditEventType } from './events.js';

export interface AuditEventInput {
  event: AuditEventType;
  /** Who did it (or who tried). */
  user?: string;
  /** The client address, from PROXY protocol when present. */
  remote_addr?: string;
  /** The event's own fields (JSON-serialisable). `code`, `time`, `uid` and `index` are set by the log. */
  [field: string]: unknown;
}

/** An event as stored: all but the index, which the store assigns. */
export interface AuditEventData extends AuditEventInput {
  /** From AUDIT_EVENTS. */
  code: string;
  /** ISO 8601 with milliseconds, UTC. */
  time: string;
  /** A random UUID. */
  uid: string;
}

export interface AuditEvent extends AuditEventData {
  /** The event's position in the log: increasing in append order, for paging and following. */
  index: number;
}

export interface AuditQuery {
  /** Events at or after this time. */
  since?: Date;
  /** Events before this time. */
  until?: Date;
  /** Events after this index (for paging, and for following by polling). */
  afterIndex?: number;
  types?: AuditEventType[];
  user?: string;
  /** At most this many events (default 1000). */
  limit?: number;
  /** By index: oldest first (`asc`, the default) or newest first. */
  order?: 'asc' | 'desc';
}

/** What follow() takes: `since` starts it that far back instead of now. */
export type AuditFollowQuery = Omit<AuditQuery, 'until' | 'afterIndex' | 'limit' | 'order'>;

export interface AuditFollower extends AsyncIterable<AuditEvent> {
  /** Ends the iteration, also one waiting for the next event. */
  close(): void;
}

export interface AuditLog {
  /**
   * Appends an event (append-only: there is no update or delete). Never throws on bad extra
   * fields: values that cannot be serialised are dropped. Secrets must never be passed in; as a
   * guard, fields whose names look secret (the logger's rule) are replaced with "[redacted]".
   */
  emit(input: AuditEventInput): Promise<AuditEvent>;
  /**
   * Appends an event as emit() does, for callers that do not wait for it (a statement, a session
   * starting): no promise, written with a later batch; a failed write is passed to `failed`, as
   * is an append after close(). It never throws.
   */
  append(input: AuditEventInput, failed: (err: Error) => void): void;
  /**
   * For many events nobody awaits that share most of their fields (a database session's
   * statements): the shared part is checked, redacted and serialised once, and each append()
   * adds only its own fields. Failures go to `failed`, as with append().
   */
  series(base: AuditEventInput, failed: (err: Error) => void): AuditSeries;
  query(q: AuditQuery): Promise<AuditEvent[]>;
  /**
   * New events matching the filter (types, user), from now on (or from `since`), in order, as
   * they are appended by any process using the same store.
   */
  follow(q: AuditFollowQuery): AuditFollower;
  close(): Promise<void>;
}

/** Events of one type that share fields: see AuditLog.series(). */
export interface AuditSeries {
  /** One event: the series' fields, then these (a name the series has already is left out). Never throws. */
  append(fields: SeriesFields): void;
}

/** What each event of a series adds: plain values only, so they serialise without a copy. */
export type SeriesFields = Record<string, string | number | boolean | undefined>;

export const DEFAULT_QUERY_LIMIT = 1000;

/**
 * Appends an event without waiting for it to be written (a connection being set up, or a
 * statement on its way to the database, should not wait for a disk); a failed write is logged,
 * since nobody awaits it.
 */
export function emitSoon(audit: AuditLog, input: AuditEventInput, log: Logger): void {
  audit.append(input, (err) => log.error('writing an audit event failed', { err, event: input.event }));
}

/** audit.series() for events nobody awaits, a failed write logged as emitSoon() logs it. */
export function openSeries(audit: AuditLog, base: AuditEventInput, log: Logger): AuditSeries {
  return audit.series(base, (err) => log.error('writing an audit event failed', { err, event: base.event }));
}

/** Names the log sets itself; an input field of the same name is dropped. */
const RESERVED = new Set(['event', 'code', 'time', 'uid', 'index']);

/**
 * The event to store: the type and code, then the input's other fields made plain JSON and
 * redacted. Shared by every AuditLog implementation.
 */
export function buildAuditEvent(input: AuditEventInput, time: Date, uid: string): AuditEventData {
  if (!isAuditEventType(input.event)) throw unknownEvent(input.event);
  const event: AuditEventData = { event: input.event, code: AUDIT_EVENTS[input.event].code, time: time.toISOString(), uid };
  for (const name of Object.keys(input)) {
    if (RESERVED.has(name)) continue;
    const value = input[name];
    // Most fields are strings and numbers (a statement's event has nothing else): they are
    // already JSON and need only the check of their name. The rest are made plain JSON first,
    // then redacted: the logger's redact() copies objects by their own entries, which would turn
    // a Date (or anything with toJSON) into {}.
    const plain = isPlainScalar(value) ? value : redact(toPlainJson(value));
    if (plain !== undefined) event[name] = isSecretName(name) ? REDACTED : plain;
  }
  return event;
}

/**
 * The stored form (JSON text) of the events of a series: the same event buildAuditEvent() makes
 * of `{ ...base, ...fields }`, with the shared part built once. A statement's event then costs
 * one ISO time, a JSON string per field and a concatenation, not an object built, copied and
 * serialised whole. Throws, as buildAuditEvent() does, for an unknown type.
 */
export function seriesEncoder(base: AuditEventInput): (fields: SeriesFields, time: Date, uid: string) => string {
  const { event, code, time: _time, uid: _uid, ...shared } = buildAuditEvent(base, new Date(0), '');
  const head = `{"event":${JSON.stringify(event)},"code":${JSON.stringify(code)},"time":"`;
  const sharedJson = Object.keys(shared).length ? `,${JSON.stringify(shared).slice(1, -1)}` : '';
  // Each field name's `,"name":` once (null: left out), and whether its value is redacted.
  const names = new Map<string, { key: string; secret: boolean } | null>();
  const nameOf = (name: string) => {
    let known = names.get(name);
    if (known === undefined) names.set(name, (known = RESERVED.has(name) || name in shared ? null : { key: `,${JSON.stringify(name)}:`, secret: isSecretName(name) }));
    return known;
  };
  return (fields, time, uid) => {
    let json = `${head}${time.toISOString()}","uid":${JSON.stringify(uid)}${sharedJson}`;
    for (const name in fields) {
      const value = fields[name];
      const known = value === undefined || !isPlainScalar(value) ? null : nameOf(name);
      if (known) json += known.key + (known.secret ? JSON.stringify(REDACTED) : JSON.stringify(value));
    }
    return `${json}}`;
  };
}

/** A value JSON carries as it is: a string, a boolean or a finite number. */
function isPlainScalar(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

export function unknownEvent(event: unknown): PosternError {
  return new PosternError('INTERNAL', `"${String(event)}" is not an audit event type; add it to src/audit/events.ts`);
}

/** The value as JSON would carry it, or undefined when JSON cannot (a cycle, a BigInt, a function). */
function toPlainJson(value: unknown): unknown {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}
