/**
 * One server under test, in its own process (its own core), so that client, sink and server do
 * not share an event loop. argv: <kind> <sink port> <tls json file>. Prints {"port": N} once it
 * listens; answers each "cpu" line on stdin with {"cpu_us": N} (user + system time so far).
 *
 * Started with --expose-gc (see server-process.ts) so CPU readings can include a full collection.
 *
 * Kinds: node-relay and postern relay TLS to the sink; bare-tls and postern-end end each
 * connection right after its handshake (for the new-connection cost); node-relay-tls relays TLS
 * to TLS (the "sink port" is then a node-relay's): with a node-relay behind it, the two TLS legs
 * of a reverse tunnel without the tunnel. plain-relay-tls takes plain TCP and relays it over TLS
 * (what `postern tcp --listen` does, without Postern). node-http-proxy is the plainest Node TLS
 * reverse proxy (https server, keep-alive http.request to the app at the "sink port", .pipe() both
 * ways, no auth): what one Node hop of HTTP costs, the ceiling for Postern's app requests. banner
 * is a plain TCP server that sends one byte to each new connection, as sshd sends its banner (a
 * set-up target in a process of its own, as a real service is). download-source and upload-sink
 * are endless bulk targets (Sink), for scenarios that time other streams beside a bulk one.
 * far-path is a plain TCP relay to the "sink port" that holds every chunk FAR_PATH_DELAY_MS each
 * way: a long network path, in a process of its own.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, createServer } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { createInterface } from 'node:readline';
import { Registry } from 'prom-client';
import { silentLogger } from '../src/log/logger.js';
import { ProxyListener } from '../src/proxy/listener.js';
import { ProxyMetrics } from '../src/proxy/metrics.js';
import { joinStreams } from '../src/net/pipe.js';
import { Router, type RoutedConnection } from '../src/proxy/router.js';
import { pathRelay } from '../test/harness/path-relay.js';
import { FAR_PATH_DELAY_MS } from './lib/relay-chain.js';
import { Sink } from './lib/sink.js';

const [kind, sinkPortText, tlsFile] = process.argv.slice(2);
const sinkPort = Number(sinkPortText);
const tls = JSON.parse(readFileSync(tlsFile!, 'utf8')) as { cert: string; key: string };
const relay = (socket: TLSSocket) => joinStreams(socket, connect(sinkPort, '127.0.0.1'));
const relayTls = (socket: TLSSocket) => joinStreams(socket, tlsConnect({ port: sinkPort, host: '127.0.0.1', servername: 'postern.localhost', ALPNProtocols: ['postern-tcp'], rejectUnauthorized: false }));
const end = (socket: TLSSocket) => socket.end();
const handlers: Record<string, (socket: TLSSocket) => void> = { 'node-relay': relay, 'node-relay-tls': relayTls, 'bare-tls': end };

async function listen(): Promise<number> {
  if (kind === 'banner') return (await new Sink('download', 1).start()).port;
  if (kind === 'download-source') return (await new Sink('download', Infinity).start()).port;
  if (kind === 'upload-sink') return (await new Sink('upload', Infinity).start()).port;
  if (kind === 'far-path') {
    const server = pathRelay(sinkPort, FAR_PATH_DELAY_MS);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as { port: number }).port;
  }
  if (kind === 'plain-relay-tls') {
    const server = createServer({ noDelay: true }, (socket) => joinStreams(socket, tlsConnect({ port: sinkPort, host: '127.0.0.1', servername: 'postern.localhost', ALPNProtocols: ['postern-tcp'], rejectUnauthorized: false })));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as { port: number }).port;
  }
  if (kind === 'node-http-proxy') {
    const agent = new Agent({ keepAlive: true, maxSockets: 512 });
    const server = createHttpsServer({ ...tls, keepAliveTimeout: 60_000 }, (req, res) => {
      const upstream = request({ host: '127.0.0.1', port: sinkPort, method: req.method, path: req.url, headers: req.headers, agent }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as { port: number }).port;
  }
  const handler = handlers[kind!];
  if (handler) {
    const server = createTlsServer({ ...tls, ALPNProtocols: ['postern-tcp', 'http/1.1'] }, handler);
    server.on('tlsClientError', () => {});
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as { port: number }).port;
  }
  const router = new Router();
  router.register('tcp', { handle: (conn: RoutedConnection) => (kind === 'postern' ? relay : end)(conn.socket) });
  const listener = new ProxyListener({
    router,
    tls,
    useProxyProtocol: false,
    handshakeTimeoutMs: 10_000,
    maxConnections: 100_000,
    maxConnectionsPerAddress: 100_000, // the load generator is one address
    publicUrl: 'https://bench',
    log: silentLogger,
    metrics: new ProxyMetrics(new Registry()),
  });
  return (await listener.listen({ host: '127.0.0.1', port: 0 })).port;
}

const port = await listen();
process.stdout.write(JSON.stringify({ port }) + '\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'cpu') {
    // Collect first, so each measured window pays for the garbage it made and no more.
    (globalThis as { gc?: () => void }).gc?.();
    const { user, system } = process.cpuUsage();
    process.stdout.write(JSON.stringify({ cpu_us: user + system }) + '\n');
  }
});
process.stdin.on('end', () => process.exit(0));
