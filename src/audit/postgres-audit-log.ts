import { PostgresPool } from '../storage/postgres/postgres-pool.js';
import type { AuditEvent, AuditFollowQuery, AuditQuery } from './audit-log.js';
import { filterOf, toEvent, type AuditRow, type AuditTable, type Term } from './audit-rows.js';
import { BatchedAuditLog } from './batched-audit-log.js';

export interface PostgresAuditLogOptions {
  /** The store's database (storage.conn_string). */
  connectionString: string;
  /** How often followers look for events appended by other proxies. */
  pollIntervalMs?: number;
}

/**
 * The audit log in the PostgreSQL database the store uses, through connections of its own: every
 * proxy appends, and followers on any of them see all proxies' events in index order.
 */
export class PostgresAuditLog extends BatchedAuditLog {
  constructor(opts: PostgresAuditLogOptions) {
    const table = new PostgresAuditTable(new PostgresPool({ connectionString: opts.connectionString, poolSize: 4, applicationName: 'postern-audit' }));
    super({ table, where: table.where, ...(opts.pollIntervalMs ? { pollIntervalMs: opts.pollIntervalMs } : {}) });
  }
}

class PostgresAuditTable implements AuditTable {
  constructor(private readonly db: PostgresPool) {}

  get where(): string {
    return `PostgreSQL at ${this.db.server}`;
  }

  /** One round trip a batch: the rows go as arrays, one per column (schema.ts, postern_audit_append). */
  async write(rows: AuditRow[]): Promise<number[]> {
    const [row] = await this.db.query<{ first: string }>('SELECT postern_audit_append($1, $2, $3, $4, $5) AS first', [
      rows.map((r) => r.uid),
      rows.map((r) => r.at),
      rows.map((r) => r.event),
      rows.map((r) => r.user),
      rows.map((r) => r.data),
    ]);
    const first = Number(row!.first);
    return rows.map((_, i) => first + i);
  }

  async query(q: AuditQuery): Promise<AuditEvent[]> {
    return this.select(filterOf(q), `ORDER BY "index" ${q.order === 'desc' ? 'DESC' : 'ASC'}`, q.limit!);
  }

  async readAfter(q: AuditFollowQuery, index: number, limit: number): Promise<AuditEvent[]> {
    return this.select(filterOf({ ...q, afterIndex: index }), 'ORDER BY "index"', limit);
  }

  async maxIndex(): Promise<number> {
    const [row] = await this.db.query<{ last: string }>('SELECT last FROM postern_audit_last', []);
    return Number(row?.last ?? 0);
  }

  async firstIndexSince(since: Date): Promise<number | undefined> {
    const [row] = await this.db.query<{ idx: string | null }>('SELECT min("index") AS idx FROM postern_audit_events WHERE time >= $1', [since.getTime()]);
    return row?.idx == null ? undefined : Number(row.idx);
  }

  close(): Promise<void> {
    return this.db.end();
  }

  /** The filter's `?` placeholders become PostgreSQL's numbered ones. */
  private async select(filter: Term, order: string, limit: number): Promise<AuditEvent[]> {
    let n = 0;
    const where = filter.sql.replace(/\?/g, () => `$${++n}`);
    const rows = await this.db.query<{ index: string; data: string }>(`SELECT "index", data FROM postern_audit_events WHERE ${where} ${order} LIMIT $${n + 1}`, [...filter.params, limit]);
    return rows.map((r) => toEvent(Number(r.index), r.data));
  }
}
