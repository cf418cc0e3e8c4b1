import { createServer, type Http2Server, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
import type { Logger } from '../log/logger.js';
import { formatHostPort, type HostPort } from '../net/addr.js';
import { widenSessionWindow } from '../net/h2-flow.js';
import { WindowTuner } from '../net/window-tuner.js';
import { lookup } from '../net/localhost.js';
import { clientContext } from '../net/secure-contexts.js';
import { Backoff } from './backoff.js';
import type { AnnouncedKind } from '../resources/table.js';
import { alpnOf } from '../wire/protocols.js';
import { DEAD_AFTER_MS, HEADER_ERROR, HEADER_KIND, HEADER_NAME, RESOURCES_PATH } from '../wire/tunnel.js';
import { H2_SETTINGS } from './h2-settings.js';

/** What the agent presents and trusts when it dials. Read at each dial, so a renewed certificate is used at once. */
export interface TunnelCredentials {
  certPem: string;
  keyPem: string;
  hostCaPem: string;
}

/** The agent's side of serving: its resource list (long-polled) and connecting streams to targets. */
export interface TunnelService {
  /** Resolves with the resources message once its version is past `after`, or after `waitMs`. */
  resources(after: number, waitMs: number, signal: AbortSignal): Promise<unknown>;
  /** Connects a stream the proxy opened to the target of one announced resource. */
  connect(kind: AnnouncedKind, name: string, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void;
}

const HEARTBEAT_WAIT_MS = 5_000;

/**
 * Keeps one reverse tunnel to the proxy up: dials out (TLS, ALPN postern-reversetunnel, the host
 * certificate), serves HTTP/2 on that outbound socket, and when it drops, dials again with
 * jittered backoff. A tunnel that stops hearing the proxy's heartbeat polls is presumed dead.
 */
export class TunnelClient {
  private readonly h2: Http2Server;
  private readonly backoff = new Backoff();
  /** The tunnel in use, or being dialled. */
  private socket: TLSSocket | undefined;
  /** Every socket still open: after a renewal, the old tunnel's until the proxy lets it go. */
  private readonly sockets = new Set<TLSSocket>();
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private connectedOnce: (() => void) | undefined;
  /** Sizes the windows of each session's streams (those carry uploads: the agent receives). */
  private readonly tuners = new WeakMap<Http2Session, WindowTuner>();
  /** Sessions the proxy has polled at least once: those are up. */
  private readonly upSessions = new WeakSet<Http2Session>();
  /** Why the proxy last refused us (from its GOAWAY), for the next log line. */
  private refusal: string | undefined;
  readonly connected: Promise<void>;

  constructor(
    private readonly proxy: HostPort,
    private readonly credentials: () => TunnelCredentials,
    private readonly service: TunnelService,
    private readonly log: Logger,
  ) {
    this.connected = new Promise((resolve) => (this.connectedOnce = resolve));
    this.h2 = createServer({ settings: H2_SETTINGS });
    this.h2.on('stream', (stream, headers) => this.serve(stream, headers));
    this.h2.on('session', (session) => this.watch(session));
  }

  start(): void {
    this.dial();
  }

  /**
   * Dials a new tunnel at once (after a certificate renewal), make before break: the proxy
   * replaces the old tunnel when the new one registers, so the agent's resources never go
   * offline in between; the old socket's close is then no disconnect.
   */
  redial(): void {
    clearTimeout(this.retryTimer);
    this.dial();
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    for (const socket of this.sockets) socket.destroy();
    this.h2.close();
  }

  private dial(): void {
    if (this.stopped) return;
    const creds = this.credentials();
    const where = formatHostPort(this.proxy);
    const socket = tlsConnect({
      host: this.proxy.host,
      port: this.proxy.port,
      ...(isIP(this.proxy.host) ? {} : { servername: this.proxy.host }),
      lookup,
      ALPNProtocols: [alpnOf('reversetunnel')],
      secureContext: clientContext({ trustedPem: creds.hostCaPem, certPem: creds.certPem, keyPem: creds.keyPem }),
    });
    this.socket = socket;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 15_000);
    const connectTimer = setTimeout(() => socket.destroy(new Error('the TLS handshake took over 10 s')), 10_000);
    socket.once('secureConnect', () => {
      clearTimeout(connectTimer);
      if (socket.alpnProtocol !== alpnOf('reversetunnel')) {
        socket.destroy(new Error(`${where} did not accept ${alpnOf('reversetunnel')}; is it a Postern proxy?`));
        return;
      }
      this.h2.emit('connection', socket);
    });
    socket.once('error', (err) => this.log.debug('tunnel socket error', { err }));
    socket.once('close', () => {
      clearTimeout(connectTimer);
      this.sockets.delete(socket);
      if (this.socket !== socket || this.stopped) return; // a replaced tunnel, or stopping
      this.socket = undefined;
      const delay = this.backoff.next();
      const why = this.refusal ?? 'the connection closed';
      this.refusal = undefined;
      this.log.warn(`tunnel to ${where} is down (${why}); retrying in ${delay} ms`, { proxy: where, retry_ms: delay });
      this.retryTimer = setTimeout(() => this.dial(), delay);
    });
  }

  /**
   * Flow control and liveness of a new session: its stream windows follow the measured round
   * trip; the proxy polls for resources every few seconds, and silence means the tunnel is dead.
   */
  private watch(session: Http2Session): void {
    widenSessionWindow(session);
    this.tuners.set(session, new WindowTuner(session, session.socket));
    session.on('error', (err) => this.log.debug('tunnel session error', { err }));
    session.on('goaway', (_code, _last, data) => {
      if (data?.length) this.refusal = `refused by the proxy: ${describeRefusal(data)}`;
    });
    let heard = Date.now();
    session.on('stream', () => (heard = Date.now()));
    const check = setInterval(() => {
      if (Date.now() - heard > DEAD_AFTER_MS) {
        this.log.warn('no heartbeat from the proxy; reconnecting');
        session.destroy(); // and its socket, whose close dials again
      }
    }, 1000).unref();
    session.once('close', () => clearInterval(check));
  }

  private serve(stream: ServerHttp2Stream, headers: Record<string, string | string[] | undefined>): void {
    stream.on('error', () => {});
    if (headers[':method'] === 'CONNECT') {
      const kind = String(headers[HEADER_KIND] ?? '') as AnnouncedKind;
      this.tuners.get(stream.session!)?.track(stream);
      this.service.connect(kind, String(headers[HEADER_NAME] ?? ''), stream, headers);
      return;
    }
    const url = new URL(String(headers[':path'] ?? '/'), 'http://agent');
    if (headers[':method'] === 'GET' && url.pathname === RESOURCES_PATH) {
      // The proxy asks with the version it has: from the second poll on, it holds our resources.
      if (url.searchParams.get('after') !== '-1') this.markUp(stream.session);
      const abort = new AbortController();
      stream.once('close', () => abort.abort());
      void this.service.resources(Number(url.searchParams.get('after') ?? -1), HEARTBEAT_WAIT_MS, abort.signal).then((message) => {
        if (stream.closed) return;
        stream.respond({ ':status': 200, 'content-type': 'application/json' });
        stream.end(JSON.stringify(message));
      });
      return;
    }
    stream.respond({ ':status': 404, [HEADER_ERROR]: encodeURIComponent('unknown request') });
    stream.end();
  }

  /** The proxy has our resources and can dial them: the tunnel is up. */
  private markUp(session: Http2Session | undefined): void {
    if (!session || this.upSessions.has(session)) return;
    this.upSessions.add(session);
    this.backoff.reset();
    this.log.info(`tunnel to ${formatHostPort(this.proxy)} is up`);
    this.connectedOnce?.();
    this.connectedOnce = undefined;
  }
}

function describeRefusal(data: Buffer): string {
  try {
    const parsed = JSON.parse(data.toString('utf8')) as { error?: { message?: string } };
    return parsed.error?.message ?? data.toString('utf8');
  } catch {
    return data.toString('utf8');
  }
}
