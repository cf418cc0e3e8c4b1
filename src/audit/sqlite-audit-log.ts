import type Database from 'better-sqlite3';
import { openDatabase } from '../storage/sqlite/sqlite-backend.js';
import type { AuditEvent, AuditFollowQuery, AuditQuery } from './audit-log.js';
import { filterOf, toEvent, type AuditRow, type AuditTable } from './audit-rows.js';
import { BatchedAuditLog } from './batched-audit-log.js';
import { AUDIT_SCHEMA, type AuditRowWriter } from './sqlite-audit-rows.js';
import { InlineWriter, ThreadWriter } from './sqlite-audit-writers.js';

export interface SqliteAuditLogOptions {
  /** The database file, the backend's own (`<data_dir>/postern.db`); created 0600 with its directory 0700. */
  path: string;
  /**
   * Who inserts events: `inline`, on this thread (the default), or `thread`, a writer thread of
   * its own, for a server whose event loop carries sessions.
   */
  writer?: 'inline' | 'thread';
  /** How often followers look for events appended by other processes. */
  pollIntervalMs?: number;
}

/**
 * The audit log in the SQLite file the backend uses, through a connection of its own. Several
 * processes append and follow at once (the server, and `postern ctl audit ls --follow`).
 */
export class SqliteAuditLog extends BatchedAuditLog {
  constructor(opts: SqliteAuditLogOptions) {
    super({ table: new SqliteAuditTable(opts.path, opts.writer ?? 'inline'), where: opts.path, ...(opts.pollIntervalMs ? { pollIntervalMs: opts.pollIntervalMs } : {}) });
  }
}

/** A row as reads get it. */
interface StoredRow {
  index: number;
  data: string;
}

type Param = string | number;

class SqliteAuditTable implements AuditTable {
  private readonly db: Database.Database;
  private readonly writer: AuditRowWriter;
  private readonly stmts;

  constructor(path: string, writer: 'inline' | 'thread') {
    this.db = openDatabase(path);
    this.db.exec(AUDIT_SCHEMA);
    this.writer = writer === 'thread' ? new ThreadWriter(path) : new InlineWriter(this.db);
    this.stmts = {
      maxIndex: this.db.prepare<[], { idx: number | null }>('SELECT MAX("index") AS idx FROM audit_events'),
      firstSince: this.db.prepare<[number], { idx: number | null }>('SELECT MIN("index") AS idx FROM audit_events WHERE time >= ?'),
    };
  }

  write(rows: AuditRow[]): Promise<number[]> {
    return this.writer.write(rows);
  }

  async query(q: AuditQuery): Promise<AuditEvent[]> {
    const filter = filterOf(q);
    return this.select(`WHERE ${filter.sql} ORDER BY "index" ${q.order === 'desc' ? 'DESC' : 'ASC'} LIMIT ?`, [...filter.params, q.limit!]);
  }

  async readAfter(q: AuditFollowQuery, index: number, limit: number): Promise<AuditEvent[]> {
    const filter = filterOf({ ...q, afterIndex: index });
    return this.select(`WHERE ${filter.sql} ORDER BY "index" LIMIT ?`, [...filter.params, limit]);
  }

  async maxIndex(): Promise<number> {
    return this.stmts.maxIndex.get()?.idx ?? 0;
  }

  async firstIndexSince(since: Date): Promise<number | undefined> {
    return this.stmts.firstSince.get(since.getTime())?.idx ?? undefined;
  }

  async close(): Promise<void> {
    await this.writer.close();
    this.db.close();
  }

  private select(clauses: string, params: Param[]): AuditEvent[] {
    return this.db
      .prepare<Param[], StoredRow>(`SELECT "index", data FROM audit_events ${clauses}`)
      .all(...params)
      .map((r) => toEvent(r.index, r.data));
  }
}
