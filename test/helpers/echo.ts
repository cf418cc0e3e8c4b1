import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readStatus } from '../../src/wire/stream-status.js';

/** A TCP echo service: the kind of thing an agent puts behind the proxy. */
export async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.on('error', () => {}).pipe(s)); // peers that die mid-stream reset it
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

/** Sends text and resolves with as much coming back (the echo), leaving the socket open. */
export function roundTrip(socket: Duplex, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (chunk: Buffer) => {
      got += String(chunk);
      if (got.length < text.length) return;
      socket.off('data', onData).off('error', reject);
      resolve(got);
    };
    socket.on('data', onData).once('error', reject);
    socket.resume();
    socket.write(text);
  });
}

/**
 * A TCP connection to a TCP app through the proxy at `port` (postern-tcp, with the certificate of
 * the profile in `profileDir`), after the proxy's status line. A reset later is the caller's to
 * see, in its reads.
 */
export async function dialTcpApp(port: number, app: string, profileDir: string): Promise<TLSSocket> {
  const file = (name: string) => readFileSync(join(profileDir, name));
  const socket = tlsConnect({ port, host: '127.0.0.1', servername: `${app}.postern.localhost`, ALPNProtocols: ['postern-tcp'], ca: file('trusted-ca.pem'), cert: file('cert.pem'), key: file('key.pem') });
  socket.on('error', () => {});
  try {
    await readStatus(socket);
    return socket;
  } catch (err) {
    socket.destroy();
    throw err;
  }
}
