import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { connect } from 'node:tls';
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

/** A TLS client of a relay that sends the target's bytes right after the handshake (no status line). */
export function tlsClient(port: number): Connect {
  return async () => {
    const sock = connect({ port, host: '127.0.0.1', servername: 'postern.localhost', ALPNProtocols: ['postern-tcp'], rejectUnauthorized: false });
    sock.setNoDelay(true);
    await once(sock, 'secureConnect');
    return sock;
  };
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
