import type { Duplex } from 'node:stream';
import { toPosternError } from '../errors/postern-error.js';
import { writeOk, writeRefusal } from '../wire/stream-status.js';
import type { RoutedConnection } from './router.js';

/**
 * Raw byte protocols (`postern-tcp`, `postern-ssh`, and the database protocols after them) answer
 * with one status line (wire/stream-status.ts) before any byte of the target's.
 */

/** Runs a raw protocol's handling of one connection: any failure goes back as the refusal line, and is logged. */
export function serveRaw(conn: RoutedConnection, what: string, serve: () => Promise<void>): void {
  void serve().catch((err: unknown) => {
    const e = toPosternError(err);
    conn.log.info(`refused ${what}`, { reason: e.message, code: e.code });
    if (!conn.socket.destroyed) writeRefusal(conn.socket, e);
  });
}

/** Accepts a raw connection once its upstream is open: the ok line (with what the protocol hands the client), then its bytes. */
export function acceptRaw(conn: RoutedConnection, extra: Record<string, unknown> = {}): Duplex {
  if (!conn.socket.destroyed) writeOk(conn.socket, extra);
  return conn.socket;
}
