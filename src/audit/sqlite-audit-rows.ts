import type Database from 'better-sqlite3';
import { buildAuditEvent, type AuditEventInput } from './audit-log.js';

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
 * An event on its way to the table: what the caller gave (checked, copied, its fields plain
 * JSON values, so that it can cross to a writer thread) and when and under which uid it
 * happened. The stored event is built from it by whoever writes it.
 */
export interface AuditRow {
  input: AuditEventInput;
  /** Milliseconds since the epoch. */
  at: number;
  uid: string;
}

/** Something that writes batches of rows in order and answers with their indexes. */
export interface AuditRowWriter {
  write(rows: AuditRow[]): Promise<number[]>;
  /** After the writes it was given. */
  close(): Promise<void>;
}

/** The insert, prepared on a connection to the store. */
export function prepareInsert(db: Database.Database): Database.Statement<[string, number, string, string | null, string]> {
  return db.prepare('INSERT INTO audit_events (uid, time, event, user, data) VALUES (?, ?, ?, ?, ?)');
}

/** Builds and writes a batch in one transaction; returns each row's index. Shared by both writers. */
export function insertRows(db: Database.Database, insert: ReturnType<typeof prepareInsert>, rows: AuditRow[]): number[] {
  return db
    .transaction(() =>
      rows.map(({ input, at, uid }) => {
        const data = buildAuditEvent(input, new Date(at), uid);
        const user = typeof data.user === 'string' ? data.user : null;
        return Number(insert.run(uid, at, data.event, user, JSON.stringify(data)).lastInsertRowid);
      }),
    )
    .immediate();
}
