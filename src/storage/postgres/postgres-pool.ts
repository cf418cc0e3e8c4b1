import pg from 'pg';
import { PosternError } from '../../errors/postern-error.js';
import { describeServer, storageError } from './postgres-errors.js';
import { migrate } from './schema.js';

export interface PostgresPoolOptions {
  /** libpq-style URL: postgres://user:password@host:port/db?sslmode=verify-full */
  connectionString: string;
  /** Connections the pool may hold (default 10). */
  poolSize?: number;
  /** How long to wait for a connection, and for a statement (defaults 5 s and 10 s). */
  connectTimeoutMs?: number;
  statementTimeoutMs?: number;
  /** As PostgreSQL shows the connections (pg_stat_activity). */
  applicationName: string;
}

/**
 * Errors that say the server ended the connection before the statement could commit (an
 * administrator's pg_terminate_backend, a shutdown, a server starting): the statement did not
 * happen, so it is sent again on another connection. A connection lost without a word is not
 * among them: whether a write committed is unknown then, and the caller hears of it.
 */
const NOT_RUN = new Set(['57P01', '57P02', '57P03']);
/** A pool's idle connections may all be dead after a restart: a few tries find a live one or a new one. */
const MAX_ATTEMPTS = 4;

/**
 * Connections to Postern's PostgreSQL database, for the store and the audit log: a pool with
 * deadlines, the schema brought up to date by the first query, and every failure a
 * STORAGE_UNAVAILABLE that says where and what to check. Until the database answers, each call
 * fails saying why, and the next one tries again.
 */
export class PostgresPool {
  /** host:port/database, for messages (never the password). */
  readonly server: string;
  private readonly pool: pg.Pool;
  private ready: Promise<void> | undefined;
  private closed = false;

  constructor(readonly opts: PostgresPoolOptions) {
    this.server = describeServer(opts.connectionString);
    const statementTimeout = opts.statementTimeoutMs ?? 10_000;
    this.pool = new pg.Pool({
      connectionString: opts.connectionString,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      statement_timeout: statementTimeout,
      query_timeout: statementTimeout + 5000,
      idleTimeoutMillis: 30_000,
      application_name: opts.applicationName,
    });
    // An idle connection the server closes (a restart, pg_terminate_backend) is dropped from the
    // pool and replaced on next use; without a listener the error would end the process.
    this.pool.on('error', () => {});
  }

  /** Runs one statement once the schema is in place. */
  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<R[]> {
    if (this.closed) throw new PosternError('STORAGE_UNAVAILABLE', `the connection to PostgreSQL at ${this.server} is closed`);
    // A failed setup is tried again by the next call: the database may be back.
    this.ready ??= this.setup().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    await this.ready;
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.pool.query<R>(sql, params)).rows;
      } catch (err) {
        if (attempt < MAX_ATTEMPTS && NOT_RUN.has((err as { code?: string }).code ?? '')) continue;
        throw storageError(err, this.server, 'a query');
      }
    }
  }

  async end(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private async setup(): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw storageError(err, this.server, 'connecting');
    }
    try {
      await migrate(client);
    } catch (err) {
      throw storageError(err, this.server, 'preparing the database (schema migrations)');
    } finally {
      client.release();
    }
  }
}
