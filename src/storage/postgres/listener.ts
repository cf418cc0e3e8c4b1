import pg from 'pg';
import { storageError } from './postgres-errors.js';

export interface ListenerHandlers {
  /** A write committed: its revision (from the notification `postern_kv` carries). */
  notified(revision: number): void;
  /** The connection came back after a loss: notifications in between are gone, read on from the table. */
  reconnected(): void;
}

/** Reconnection waits double from the first to the last, with jitter. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5000;

/**
 * One connection that LISTENs on `postern_kv`, kept open: once established and then lost (a
 * restart, pg_terminate_backend, a network break), it is dialled again until it is back, and then
 * says so.
 */
export class PostgresListener {
  private client: pg.Client | undefined;
  private first: Promise<void>;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_FIRST_MS;
  private closed = false;

  constructor(
    private readonly connectionString: string,
    private readonly server: string,
    private readonly handlers: ListenerHandlers,
  ) {
    this.first = this.open();
    this.first.catch(() => {}); // awaited through listening()
  }

  /** Resolves once LISTEN is in place; rejects, saying why, when the first attempt fails (the owner closes this and tries anew). */
  listening(): Promise<void> {
    return this.first;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private async open(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, connectionTimeoutMillis: 5000, application_name: 'postern-watch' });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (msg) => {
      const revision = Number.parseInt(msg.payload ?? '', 10);
      if (Number.isSafeInteger(revision)) this.handlers.notified(revision);
    });
    try {
      await client.connect();
      await client.query('LISTEN postern_kv');
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => {});
      throw storageError(err, this.server, 'listening for changes');
    }
    if (this.closed) return void client.end().catch(() => {});
    this.client = client;
    this.retryMs = RETRY_FIRST_MS;
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => {});
    this.retry();
  }

  private retry(): void {
    if (this.closed || this.retryTimer) return;
    const wait = this.retryMs * (0.5 + Math.random() / 2);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.open().then(
        () => {
          if (!this.closed) this.handlers.reconnected();
        },
        () => this.retry(),
      );
    }, wait);
  }
}
