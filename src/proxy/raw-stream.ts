import type { Duplex } from 'node:stream';
import type { LockWatcher } from '../auth/lock-watcher.js';
import type { LockSubject } from '../auth/locks.js';
import { toPosternError } from '../errors/postern-error.js';
import { joinStreams } from '../net/pipe.js';
import { writeOk, writeRefusal } from '../wire/stream-status.js';
import type { RoutedConnection } from './router.js';

/** Runs a raw protocol's handling of one connection: any failure goes back as the refusal line, and is logged. */
export function serveRaw(conn: RoutedConnection, what: string, serve: () => Promise<void>): void {
  void serve().catch((err: unknown) => {
    const e = toPosternError(err);
    conn.log.info(`refused ${what}`, { reason: e.message, code: e.code });
    if (!conn.socket.destroyed) writeRefusal(conn.socket, e);
  });
}

/**
 * Connects an authorized client to its upstream: the ok line (with `extra`), then bytes both ways
 * until either side ends or a lock covers the subject. `onEnd` runs once, when both are closed.
 */
export function relayAuthorized(conn: RoutedConnection, upstream: Duplex, locks: LockWatcher, subject: LockSubject, extra: Record<string, unknown> = {}, onEnd?: () => void): void {
  if (conn.socket.destroyed) return void upstream.destroy();
  writeOk(conn.socket, extra);
  const untrack = locks.track({ subject, end: () => conn.socket.destroy() });
  joinStreams(conn.socket, upstream, () => {
    untrack();
    onEnd?.();
  });
}

