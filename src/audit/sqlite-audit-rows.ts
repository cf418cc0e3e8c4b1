import type Database from 'better-sqlite3';

// `data` is the whole event but its index, which is the row's own key.
export const AUDIT_SCHEMA = `
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

/**
 * An event on its way to the table, built and serialised by the log that took it (so the writer
 * only inserts): its columns, `data` being the whole stored event as JSON.
 */
export interface AuditRow {
  /** Milliseconds since the epoch. */
  at: number;
  uid: string;
  event: string;
  user: string | null;
  data: string;
}

/** Something that writes batches of rows in order and answers with their indexes. */
export interface AuditRowWriter {
  write(rows: AuditRow[]): Promise<number[]>;
  /** After the writes it was given. */
  close(): Promise<void>;
}

/**
 * A batch as one string, five lines a row, for the trip to a writer thread: one copy, where
 * cloning the rows' objects cost ~4 µs each. Nothing in a row holds a line break: `data` and
 * `user` are JSON (which escapes them), the rest are numbers, UUIDs and event names.
 */
export function encodeRows(rows: AuditRow[]): string {
  const lines: string[] = [];
  for (const r of rows) lines.push(String(r.at), r.uid, r.event, JSON.stringify(r.user), r.data);
  return lines.join('\n');
}

export function decodeRows(text: string): AuditRow[] {
  const lines = text.split('\n');
  const rows: AuditRow[] = [];
  for (let i = 0; i + 4 < lines.length; i += 5) {
    rows.push({ at: Number(lines[i]), uid: lines[i + 1]!, event: lines[i + 2]!, user: JSON.parse(lines[i + 3]!) as string | null, data: lines[i + 4]! });
  }
  return rows;
}

/** The insert, prepared on a connection to the store. */
export function prepareInsert(db: Database.Database): Database.Statement<[string, number, string, string | null, string]> {
  return db.prepare('INSERT INTO audit_events (uid, time, event, user, data) VALUES (?, ?, ?, ?, ?)');
}

/** Writes a batch in one transaction; returns each row's index. Shared by both writers. */
export function insertRows(db: Database.Database, insert: ReturnType<typeof prepareInsert>, rows: AuditRow[]): number[] {
  return db.transaction(() => rows.map((r) => Number(insert.run(r.uid, r.at, r.event, r.user, r.data).lastInsertRowid))).immediate();
}
