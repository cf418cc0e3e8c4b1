import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type SecureContext, type SecureContextOptions, type Server as TlsServer, type TlsOptions, type TLSSocket } from 'node:tls';
import { addressKey, formatHostPort, type HostPort } from '../net/addr.js';
import { LogLimiter } from '../log/log-limiter.js';
import type { Logger } from '../log/logger.js';
import { PosternError } from '../errors/postern-error.js';
import type { HandshakeFailure, ProxyMetrics } from './metrics.js';
import { AddressLimit } from './address-limit.js';
import { HandshakeQueue, type HandshakeTicket } from './handshake-queue.js';
import { looksLikeProxyHeader, parseProxyHeader } from './proxy-protocol.js';
import type { Router } from './router.js';
import { MAX_CLIENT_HELLO, parseClientHello } from '../wire/client-hello.js';
import { alpnOf } from '../wire/protocols.js';

const ACME_ALPN = alpnOf('acme');

export interface ListenerOptions {
  router: Router;
  tls: TlsOptions;
  useProxyProtocol: boolean;
  handshakeTimeoutMs: number;
  maxConnections: number;
  /** Connections at once from one client address that have not proved who is on them. */
  maxConnectionsPerAddress: number;
  /** Where users should go instead, for the answer to plain HTTP. */
  publicUrl: string;
  log: Logger;
  metrics: ProxyMetrics;
  /**
   * ACME TLS-ALPN-01 challenges waiting for their validator (proxy.acme). While one waits, each
   * new connection's ClientHello is read here first, and one that offers `acme-tls/1` for a
   * waiting name is answered with the challenge's certificate instead of going to the router.
   */
  acmeChallenges?: { readonly pending: boolean; context(servername: string): SecureContext | undefined };
}

/** What the listener knows about a connection before its handler takes over. */
interface Pending {
  id: number;
  raw: Socket;
  /** From the PROXY header when there is one, else the TCP peer (read at accept: after a reset it is gone). */
  clientAddr: { address: string; port: number };
  /** performance.now() at accept. */
  acceptedAt: number;
  /** Our deadline, with PROXY protocol only; otherwise the TLS server's handshakeTimeout is it. */
  timer?: NodeJS.Timeout;
  /** Made on first use: most connections never log before their handler takes over. */
  logger?: Logger;
  /** Set once the connection has failed or been routed, so it is counted once. */
  settled: boolean;
  /** Set by the ALPN callback when it refuses, so the TLS error is reported with its cause. */
  refusal?: { reason: HandshakeFailure; message: string };
  /** Its place in its address's line of handshakes, until the handshake is over. */
  handshake?: HandshakeTicket;
  /** Its client address as the per-address limits count it (addressKey), once known. */
  addressKey?: string;
  /** It counts against its address's limit of connections nobody has signed in on. */
  anonymous: boolean;
  /** A verified client certificate, or a handler said so (a session, a token). */
  authenticated: boolean;
}

const PENDING = Symbol('postern.pending');
/** Handshakes one client address may start in one turn of the event loop; more wait for the next. */
const HANDSHAKES_PER_TURN_PER_ADDRESS = 4;
type RawSocket = Socket & { [PENDING]?: Pending };

/**
 * The one public port. Every connection goes through the same steps before a handler sees it:
 * connection limit → (PROXY header, when configured) → limit per client address → TLS, with the
 * ALPN chosen by the router → the protocol's handler. One deadline covers all of it. Anything else
 * is closed with a log line that says why, and counted by reason.
 *
 * Per client address, two counts share proxy.max_connections_per_ip as their limit: handshakes
 * under way or waiting their turn (each bounded by the deadline), and connections past the
 * handshake that have not proved who is on them (no verified client certificate, and no handler's
 * `authenticate()` for a session or token yet). So agents and signed-in users, however many behind
 * one NAT address, are never refused for the idle connections of someone else at that address.
 * Handshakes take turns: a few per address start in each turn of the event loop (HandshakeQueue),
 * so a burst from one address is spread out instead of holding the loop while everyone else waits.
 *
 * Without PROXY protocol the socket goes to TLS untouched: OpenSSL reads it straight from the
 * kernel, and recognises plain HTTP and non-TLS bytes itself, which costs nothing on the path of
 * good connections (a JavaScript peek at the first bytes cost ~13% of a handshake's CPU).
 */
export class ProxyListener {
  private readonly server: Server;
  private readonly tlsServer: TlsServer;
  /** Answers ACME validators (made on the first). */
  private acmeTls: TlsServer | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly handshakes: HandshakeQueue;
  private readonly anonymous: AddressLimit;
  /** A flood of bad connections is counted in full but logged at most 20 lines/s per reason. */
  private readonly failureLogs: LogLimiter;
  private nextId = 0;

  constructor(private readonly opts: ListenerOptions) {
    this.failureLogs = new LogLimiter(20, 1000, (reason, count) =>
      opts.log.warn(`left out ${count} more "${reason}" lines of the last second; postern_proxy_handshake_failures_total counts them all`, { reason, suppressed: count }),
    );
    this.handshakes = new HandshakeQueue(HANDSHAKES_PER_TURN_PER_ADDRESS, opts.maxConnectionsPerAddress);
    this.anonymous = new AddressLimit(opts.maxConnectionsPerAddress);
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    const listener = this;
    this.tlsServer = createTlsServer({
      ...opts.tls,
      // Without PROXY protocol this is the deadline; with it, our own timer (which also covers the
      // header) fires first and this is a backstop.
      handshakeTimeout: opts.useProxyProtocol ? opts.handshakeTimeoutMs + 1000 : opts.handshakeTimeoutMs,
      ALPNCallback(this: TLSSocket, info: { servername: string; protocols: string[] }) {
        return listener.selectAlpn(this, info.servername, info.protocols);
      },
    });
    this.tlsServer.on('secureConnection', (socket: TLSSocket) => this.route(socket));
    this.tlsServer.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => this.tlsFailed(err, socket));
  }

  async listen(addr: HostPort): Promise<HostPort> {
    await new Promise<void>((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException) =>
        reject(
          new PosternError(
            'LISTEN_FAILED',
            `cannot listen on ${formatHostPort(addr)}: ${err.code === 'EADDRINUSE' ? 'the address is in use by another program; stop it or choose another --listen-addr' : err.message}`,
            { cause: err },
          ),
        );
      this.server.once('error', failed);
      this.server.listen(addr.port, addr.host, () => {
        this.server.off('error', failed);
        // Errors after this (accept failing for lack of file descriptors, say) are logged, never fatal.
        this.server.on('error', (err) => this.opts.log.error('listener error', { err }));
        resolve();
      });
    });
    const bound = this.server.address() as { address: string; port: number };
    return { host: bound.address, port: bound.port };
  }

  get listening(): boolean {
    return this.server.listening;
  }

  /** Swaps the certificate for new connections (renewal) without dropping open ones. */
  setSecureContext(tls: SecureContextOptions): void {
    this.tlsServer.setSecureContext(tls);
  }

  /** Stops accepting; open connections get `graceMs` to finish, then are closed. */
  async close(graceMs = 5000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const deadline = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, graceMs);
    await closed;
    clearTimeout(deadline);
  }

  private accept(raw: RawSocket): void {
    raw.on('error', () => {}); // peers reset connections; each phase reports its own outcome
    const id = ++this.nextId;
    if (this.sockets.size >= this.opts.maxConnections) {
      this.opts.metrics.failed('connection_limit', false);
      if (this.failureLogs.admit('connection_limit')) {
        this.opts.log.warn('connection refused: the proxy is at its connection limit (proxy.max_connections)', {
          conn: id,
          peer: `${raw.remoteAddress}:${raw.remotePort}`,
          reason: 'connection_limit',
          limit: this.opts.maxConnections,
        });
      }
      raw.destroy();
      return;
    }
    this.sockets.add(raw);
    this.opts.metrics.accepted();
    const pending: Pending = {
      id,
      raw,
      clientAddr: { address: raw.remoteAddress ?? '?', port: raw.remotePort ?? 0 },
      acceptedAt: performance.now(),
      settled: false,
      authenticated: false,
      anonymous: false,
    };
    if (this.opts.useProxyProtocol) pending.timer = setTimeout(() => this.timedOut(pending), this.opts.handshakeTimeoutMs);
    raw[PENDING] = pending;
    raw.once('close', () => {
      this.sockets.delete(raw);
      pending.handshake?.release();
      this.releaseAnonymous(pending);
      if (!pending.settled) this.fail(pending, 'client_closed', 'the client closed the connection before the handshake finished');
    });
    if (this.opts.useProxyProtocol) this.readProxyHeader(raw, pending);
    else this.startTls(pending);
  }

  /** Once the client's address is known: starts TLS when the address's turn comes, refusing past its limit. */
  private startTls(pending: Pending): void {
    let started = false;
    pending.addressKey = addressKey(pending.clientAddr.address);
    const ticket = this.handshakes.enter(pending.addressKey, () => {
      started = true;
      // Closed or timed out while waiting: its turn passes to the next in line.
      if (pending.settled || pending.raw.destroyed) return pending.handshake?.release();
      // Without PROXY protocol the TLS server's deadline takes over from the one for the wait.
      if (!this.opts.useProxyProtocol) clearTimeout(pending.timer);
      if (this.opts.acmeChallenges?.pending) this.readClientHello(pending);
      else this.tlsServer.emit('connection', pending.raw);
    });
    if (!ticket) {
      return this.fail(pending, 'address_limit', `connection refused: ${this.handshakes.max} connections from this address are in or waiting for their TLS handshake (proxy.max_connections_per_ip)`);
    }
    pending.handshake = ticket;
    // Waiting in line, the TLS server's deadline has not started: ours covers the wait.
    if (!started) pending.timer ??= setTimeout(() => this.timedOut(pending), this.opts.handshakeTimeoutMs);
  }

  private releaseAnonymous(pending: Pending): void {
    if (!pending.anonymous) return;
    this.anonymous.release(pending.addressKey!);
    pending.anonymous = false;
  }

  /** Reads the PROXY header, takes the client address from it, and hands the rest to TLS. */
  private readProxyHeader(raw: RawSocket, pending: Pending): void {
    let buffered: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const header = parseProxyHeader(buffered);
      if (header.status === 'incomplete') return;
      raw.off('data', onData);
      if (header.status === 'invalid') {
        const missing = !looksLikeProxyHeader(buffered);
        this.fail(
          pending,
          missing ? 'proxy_header_missing' : 'proxy_header_invalid',
          missing
            ? 'refused: proxy.use_proxy_protocol is on and the connection did not start with a PROXY v1/v2 header; connect through the L4 load balancer, or turn use_proxy_protocol off'
            : `refused: ${header.reason}`,
        );
        return;
      }
      if (header.source) pending.clientAddr = header.source;
      raw.pause();
      raw.unshift(buffered.subarray(header.length));
      this.startTls(pending);
    };
    raw.on('data', onData);
  }

  /**
   * While an ACME challenge waits: reads the ClientHello (no further than one TLS record) and
   * sends one offering `acme-tls/1` (the protocol table's acme row) for a waiting name to the challenge; all else goes on to TLS as it
   * would have, its bytes put back.
   */
  private readClientHello(pending: Pending): void {
    const raw = pending.raw;
    let buffered: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const hello = parseClientHello(buffered);
      if (hello === 'more' && buffered.length < MAX_CLIENT_HELLO) return;
      raw.off('data', onData);
      raw.pause();
      raw.unshift(buffered);
      const challenge = typeof hello === 'object' && hello.servername && hello.alpn.includes(ACME_ALPN) ? this.opts.acmeChallenges?.context(hello.servername) : undefined;
      if (!challenge) return void this.tlsServer.emit('connection', raw);
      // The validator's connection: settled here, answered with the challenge's certificate and closed.
      pending.settled = true;
      pending.handshake?.release();
      clearTimeout(pending.timer);
      this.acmeTls ??= createTlsServer({ ALPNProtocols: [ACME_ALPN], handshakeTimeout: this.opts.handshakeTimeoutMs, SNICallback: (name, cb) => cb(null, this.opts.acmeChallenges?.context(name)) }).on('secureConnection', (s: TLSSocket) => s.end()).on('tlsClientError', (_err, s: TLSSocket) => s.destroy());
      this.acmeTls.emit('connection', raw);
      this.opts.log.info('answered an ACME TLS-ALPN-01 validation', { conn: pending.id, servername: hello === 'more' || hello === 'invalid' ? undefined : hello.servername, peer: formatHostPort({ host: pending.clientAddr.address, port: pending.clientAddr.port }) });
    };
    raw.on('data', onData);
  }

  private selectAlpn(tlsSocket: TLSSocket, servername: string | undefined, offered: string[]): string | undefined {
    const decision = this.opts.router.selectAlpn(servername, offered);
    if (decision.ok) return decision.alpn;
    const pending = pendingOf(tlsSocket);
    if (pending) pending.refusal = { reason: decision.reason, message: `refused with a no_application_protocol alert: ${decision.message}` };
    return undefined;
  }

  private route(socket: TLSSocket): void {
    const pending = pendingOf(socket);
    if (!pending || pending.settled) {
      socket.destroy();
      return;
    }
    socket.on('error', () => {}); // handlers add their own; this keeps a late reset from throwing
    const servername = (socket as TLSSocket & { servername?: string | false }).servername || undefined;
    const alpn = socket.alpnProtocol ?? false;
    const resolved = this.opts.router.resolve(servername, alpn);
    const handler = resolved && this.opts.router.handler(resolved.protocol.id);
    pending.handshake?.release();
    if (!socket.authorized) pending.anonymous = this.anonymous.take(pending.addressKey!);
    if (!socket.authorized && !pending.anonymous) {
      this.fail(pending, 'address_limit', `closed after the handshake: ${this.anonymous.max} connections from this address have not signed in (proxy.max_connections_per_ip)`, false);
      socket.destroy(); // the TLS socket, never the TCP one under it (see below)
      return;
    }
    if (!resolved || !handler) {
      // Only a client that offered no ALPN gets here (a kube.* name): the ALPN callback refuses the rest.
      const what = resolved ? `${resolved.protocol.description} is not available in this version of Postern yet` : 'no protocol matches';
      // The TLS socket is destroyed, never the TCP socket under it: destroying that first while TLS
      // still wraps it crashes Node 20 (a segfault, not an exception).
      this.fail(pending, 'protocol_unavailable', `closed after the handshake: ${what} (server name ${servername ?? 'none'}, no ALPN)`, false);
      socket.destroy();
      return;
    }
    pending.settled = true;
    clearTimeout(pending.timer);
    const authenticate = () => {
      pending.authenticated = true;
      this.releaseAnonymous(pending);
    };
    pending.authenticated = socket.authorized;
    const protocol = resolved.protocol.id;
    this.opts.metrics.routedTo(protocol, (performance.now() - pending.acceptedAt) / 1000);
    socket.once('close', () => this.opts.metrics.closed(protocol));
    const base = this.opts.log;
    let log: Logger | undefined;
    // The logger is made on first use: a handler that never logs never pays for it.
    handler.handle({
      id: pending.id,
      socket,
      protocol: resolved.protocol,
      alpn,
      ping: resolved.ping,
      servername,
      clientAddr: pending.clientAddr,
      authenticate,
      get authenticated() {
        return pending.authenticated;
      },
      get log() {
        return (log ??= logOf(base, pending).child({ protocol }));
      },
    });
  }

  private tlsFailed(err: Error & { code?: string }, socket: TLSSocket): void {
    const pending = pendingOf(socket);
    if (!pending || pending.settled) return;
    if (pending.refusal) return this.fail(pending, pending.refusal.reason, pending.refusal.message);
    switch (err.code) {
      case 'ERR_SSL_HTTP_REQUEST':
      case 'ERR_SSL_HTTPS_PROXY_REQUEST':
        return this.answerPlainHttp(pending);
      case 'ERR_SSL_WRONG_VERSION_NUMBER':
        return this.fail(
          pending,
          'not_tls',
          'refused: the first bytes are not a TLS handshake; clients must speak TLS to this port. If an L4 load balancer in front sends PROXY protocol headers, set proxy.use_proxy_protocol: true',
        );
      case 'ERR_TLS_HANDSHAKE_TIMEOUT':
        return this.timedOut(pending);
      case 'ECONNRESET':
        return this.fail(pending, 'client_closed', 'the client reset the connection during the handshake');
      default:
        return this.fail(pending, 'tls_error', `TLS handshake failed: ${err.code ?? ''} ${err.message.split('\n')[0]}`.trim());
    }
  }

  private timedOut(pending: Pending): void {
    this.fail(pending, 'handshake_timeout', `no completed handshake within ${this.opts.handshakeTimeoutMs} ms`);
  }

  /** OpenSSL saw an HTTP request line; the TCP socket is still open, so answer it in plain text. */
  private answerPlainHttp(pending: Pending): void {
    const body = `This is Postern's TLS port; it does not serve plain HTTP.\nUse ${this.opts.publicUrl} instead.\n`;
    this.fail(pending, 'plain_http', 'answered a plain HTTP request with 400: clients must use https', false);
    pending.raw.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }

  /** Counts and logs a connection that never reached a handler, and closes it (unless told not to). */
  private fail(pending: Pending, reason: HandshakeFailure, message: string, destroy = true): void {
    if (pending.settled) return;
    pending.settled = true;
    clearTimeout(pending.timer);
    this.opts.metrics.failed(reason);
    if (this.failureLogs.admit(reason, message.length)) logOf(this.opts.log, pending).warn(message, { reason });
    if (destroy) pending.raw.destroy();
  }
}

function logOf(base: Logger, pending: Pending): Logger {
  const { raw, clientAddr } = pending;
  const peer = `${raw.remoteAddress}:${raw.remotePort}`;
  const client = `${clientAddr.address}:${clientAddr.port}`;
  pending.logger ??= base.child(peer === client ? { conn: pending.id, peer } : { conn: pending.id, peer, client });
  return pending.logger;
}

/**
 * The TLS socket's underlying TCP socket carries what the listener learned before the handshake.
 * Node links a server-side TLSSocket to the socket it wraps as `_parent` (internal, but stable
 * since Node 0.x; this is the only place that relies on it).
 */
function pendingOf(socket: Socket): Pending | undefined {
  return (socket as RawSocket)[PENDING] ?? (socket as { _parent?: RawSocket })._parent?.[PENDING];
}
