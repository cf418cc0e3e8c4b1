import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';

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
