import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { connect } from 'node:tls';
import { readStatus } from '../../src/wire/stream-status.js';
import type { Sink } from './sink.js';

export type Direction = 'upload' | 'download';

/** A download that ended cleanly with bytes missing: the relay dropped the tail of the stream. */
export class TruncatedTransfer extends Error {
  constructor(readonly got: number, readonly total: number) {
    super(`download got ${got} of ${total} bytes`);
  }
}

/** Opens one client connection through the relay under test, ready to carry the target's bytes. */
export type Connect = () => Promise<Duplex>;

/**
 * How to open a client connection through a relay under test, as plain data, so another process
 * can open the same kind of connection (a bulk stream that must not share the measuring process).
 */
export interface ConnectSpec {
  port: number;
  servername: string;
  /** A client certificate, and the CA to verify the server with (none: not verified). */
  tls: { cert?: string; key?: string; ca?: string };
  /** Whether the server answers with a status line (postern-tcp) before the target's bytes. */
  status: boolean;
}

export function connectTo(spec: ConnectSpec): Connect {
  return async () => {
    const sock = connect({ port: spec.port, host: '127.0.0.1', servername: spec.servername, ALPNProtocols: ['postern-tcp'], ...spec.tls, rejectUnauthorized: spec.tls.ca !== undefined });
    sock.setNoDelay(true);
    await once(sock, 'secureConnect');
    if (spec.status) await readStatus(sock);
    return sock;
  };
}

/** A relay that sends the target's bytes right after the handshake (no status line). */
export function tlsSpec(port: number): ConnectSpec {
  return { port, servername: 'postern.localhost', tls: {}, status: false };
}

export function tlsClient(port: number): Connect {
  return connectTo(tlsSpec(port));
}

/**
 * Moves `total` bytes through one connection to `sink` (whose mode must match `direction`);
 * returns MB/s. The clock starts once the connection is ready, so only the pump is timed.
 */
export async function transfer(open: Connect, sink: Sink, direction: Direction, total: number): Promise<number> {
  const sock = await open();
  const started = performance.now();
  if (direction === 'upload') {
    const arrived = sink.nextUpload();
    const chunk = Buffer.alloc(64 * 1024, 0xa5);
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (!sock.write(chunk)) await once(sock, 'drain');
    }
    await arrived;
  } else {
    let got = 0;
    sock.on('data', (d: Buffer) => (got += d.length));
    // A client that read a status line first left the stream paused, and a listener alone does not resume it.
    sock.resume();
    await once(sock, 'end');
    if (got !== total) throw new TruncatedTransfer(got, total);
  }
  const seconds = (performance.now() - started) / 1000;
  sock.destroy();
  return total / 1e6 / seconds;
}
