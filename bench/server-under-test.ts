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
 * way: a long network path, in a process of its own. pg-tls-relay is node-relay for a PostgreSQL
 * server that it reaches over TLS, as Postern's agent must (see pgTlsRelay); mysql-tls-relay the
 * same for MySQL and MariaDB (mysqlTlsRelay).
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { createInterface } from 'node:readline';
import { Registry } from 'prom-client';
import { silentLogger } from '../src/log/logger.js';
import { ProxyListener } from '../src/proxy/listener.js';
import { ProxyMetrics } from '../src/proxy/metrics.js';
import { joinStreams } from '../src/net/pipe.js';
import { CLIENT, packet, readMysqlPacket } from '../src/wire/mysql.js';
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
const handlers: Record<string, (socket: TLSSocket) => void> = { 'node-relay': relay, 'node-relay-tls': relayTls, 'bare-tls': end, 'pg-tls-relay': pgTlsRelay, 'mysql-tls-relay': mysqlTlsRelay };

/** PostgreSQL's SSLRequest and GSSENCRequest codes: a length of 8, then the code. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
const GSSENC_REQUEST_CODE = 80877104;

/**
 * The relay in the agent's place for a PostgreSQL server over TLS: it answers the client's own
 * SSLRequest (or GSSENCRequest) `N`, since the hops before it carry the TLS, and opens TLS to the
 * server the way PostgreSQL 15 wants it (an SSLRequest in clear, `S`, then the handshake), from
 * 127.0.0.2, which the bench's pg_hba.conf trusts over TLS. Then bytes flow as in node-relay.
 */
function pgTlsRelay(socket: TLSSocket): void {
  let held = Buffer.alloc(0);
  const opening = (chunk: Buffer) => {
    held = Buffer.concat([held, chunk]);
    while (held.length >= 8 && held.readUInt32BE(0) === 8 && (held.subarray(0, 8).equals(SSL_REQUEST) || held.readUInt32BE(4) === GSSENC_REQUEST_CODE)) {
      socket.write('N');
      held = held.subarray(8);
    }
    if (held.length < 8) return;
    socket.off('data', opening);
    socket.pause();
    const raw = connect({ port: sinkPort, host: '127.0.0.1', localAddress: '127.0.0.2', noDelay: true }, () => raw.write(SSL_REQUEST));
    raw.on('error', () => socket.destroy());
    raw.once('data', (answer: Buffer) => {
      if (answer[0] !== 0x53) return void socket.destroy();
      const secure = tlsConnect({ socket: raw, rejectUnauthorized: false }, () => {
        secure.write(held);
        joinStreams(socket, secure);
        socket.resume();
      });
      secure.on('error', () => socket.destroy());
    });
  };
  socket.on('data', opening);
}

/**
 * The relay in the agent's place for a MySQL or MariaDB server over TLS: the server's greeting
 * goes to the client as it is; the client's handshake response is held while the relay sends the
 * server an SSL request made of the response's own fixed part (MariaDB's extended capabilities
 * included, in what is filler to MySQL), opens TLS and sends the response
 * after it (the server numbers its answer one higher for the SSL request, so the relay numbers it
 * back for the client, as Postern's agent does). Then bytes flow as in node-relay.
 */
const SSL_REQUEST_LENGTH = 32;

function mysqlTlsRelay(socket: TLSSocket): void {
  const raw = connect({ port: sinkPort, host: '127.0.0.1', noDelay: true });
  const login = async () => {
    await once(raw, 'connect');
    const greeting = await readMysqlPacket(raw, 'the server greeting');
    socket.write(packet(greeting.sequence, greeting.payload));
    const response = Buffer.from((await readMysqlPacket(socket, 'the handshake response')).payload);
    response.writeUInt32LE((response.readUInt32LE(0) | CLIENT.SSL) >>> 0, 0);
    raw.write(packet(1, response.subarray(0, SSL_REQUEST_LENGTH)));
    const secure = tlsConnect({ socket: raw, rejectUnauthorized: false });
    await once(secure, 'secureConnect');
    secure.write(packet(2, response));
    socket.write(packet(2, (await readMysqlPacket(secure, 'the login answer')).payload));
    joinStreams(socket, secure);
  };
  login().catch(() => {
    raw.destroy();
    socket.destroy();
  });
}

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
