import { connect as h2connect, createServer as createH2Server, type ClientHttp2Session, type Http2Server, type ServerHttp2Session } from 'node:http2';
import { connect, type Server } from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { pathRelay } from '../../test/harness/path-relay.js';
import { widenSessionWindow } from './h2-flow.js';
import { WindowTuner, type WindowTunerOptions } from './window-tuner.js';

const OPTS: WindowTunerOptions = { floor: 64 << 10, ceiling: 8 << 20 };

async function listen(server: Server | Http2Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

const closers: (() => void)[] = [];
afterEach(() => closers.splice(0).forEach((close) => close()));

/** Byte i of a stream is i mod 251, so a byte lost, repeated or reordered while windows change shows. */
const PATTERN = Buffer.from(Array.from({ length: 251 * 261 }, (_, i) => i % 251));

/** A server that sends bytes on every stream as fast as flow control lets it, reached through `relay`. */
async function downloadThrough(relay: (port: number) => Server): Promise<{ client: ClientHttp2Session; server: Promise<ServerHttp2Session>; tuner: WindowTuner; received: () => number; intact: () => boolean }> {
  const h2 = createH2Server();
  const server = new Promise<ServerHttp2Session>((resolve) => h2.once('session', resolve));
  h2.on('stream', (stream) => {
    stream.on('error', () => {}); // reset when the test tears down
    stream.respond({ ':status': 200 });
    const chunk = PATTERN;
    const pump = () => {
      while (!stream.destroyed && stream.write(chunk));
      if (!stream.destroyed) stream.once('drain', pump);
    };
    pump();
  });
  const path = relay(await listen(h2));
  const socket = connect(await listen(path), '127.0.0.1');
  const client = h2connect('http://tuner.test', { createConnection: () => socket, settings: { initialWindowSize: OPTS.floor } }).on('error', () => {});
  widenSessionWindow(client);
  closers.push(() => client.destroy(), () => h2.close(), () => path.close());
  const tuner = new WindowTuner(client, socket, OPTS);
  const stream = client.request({ ':path': '/' }).on('error', () => {});
  let received = 0;
  let intact = true;
  stream.on('data', (d: Buffer) => {
    for (let i = 0; i < d.length; i++) intact &&= d[i] === (received + i) % 251;
    received += d.length;
  });
  tuner.track(stream);
  return { client, server, tuner, received: () => received, intact: () => intact };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('WindowTuner', () => {
  it('grows the window of a stream held back by a long round trip, and the sender gets the new window', async () => {
    const { server, tuner, intact } = await downloadThrough((port) => pathRelay(port, 20));
    await sleep(1500);
    expect(intact()).toBe(true);
    // 64 KiB per 40 ms round trip is 1.6 MB/s; loopback carries far more, so the window was the limit.
    expect(tuner.window).toBeGreaterThanOrEqual(OPTS.floor * 4);
    expect((await server).remoteSettings.initialWindowSize).toBe(tuner.window);
  });

  it('stops growing once bytes queue at a bottleneck', async () => {
    // 2 MB/s behind a 40 ms round trip: one round trip holds 80 KB, so a window of 8 MiB would only
    // lengthen the queue. The window should stay within a few round trips' worth.
    const { tuner, received, intact } = await downloadThrough((port) => pathRelay(port, 20, 2000));
    await sleep(2000);
    expect(received()).toBeGreaterThan(0);
    expect(intact()).toBe(true);
    expect(tuner.window).toBeLessThanOrEqual(OPTS.floor * 8);
  });

  it('sends nothing once its streams have closed', async () => {
    const h2 = createH2Server();
    h2.on('stream', (stream) => {
      stream.on('error', () => {});
      stream.respond({ ':status': 200 });
      stream.end(Buffer.alloc(4 << 20));
    });
    const port = await listen(h2);
    const socket = connect(port, '127.0.0.1');
    const client = h2connect('http://tuner.test', { createConnection: () => socket, settings: { initialWindowSize: OPTS.floor } }).on('error', () => {});
    closers.push(() => client.destroy(), () => h2.close());
    const tuner = new WindowTuner(client, socket, OPTS);
    const stream = client.request({ ':path': '/' }).on('error', () => {});
    tuner.track(stream);
    stream.resume();
    await once(stream, 'close');
    await sleep(50); // a PING already in flight
    const sent = socket.bytesWritten;
    await sleep(600);
    expect(socket.bytesWritten).toBe(sent);
  });
});
