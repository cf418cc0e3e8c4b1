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
import { DEAD_AFTER_MS, HEADER_ERROR, HEADER_KIND, HEADER_NAME, HEADER_PROXIES, HEADER_PROXY_ID, RESOURCES_PATH } from '../wire/tunnel.js';
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
/** Seeking a proxy just learnt of: this many dials, about this far apart. */
const QUICK_DIALS = 20;
const QUICK_DIAL_MS = 300;

/**
 * Keeps reverse tunnels up: dials out (TLS, ALPN postern-reversetunnel, the host certificate),
 * serves HTTP/2 on each outbound socket, and when the last drops, dials again with jittered
 * backoff. A tunnel that stops hearing the proxy's heartbeat polls is presumed dead.
 *
 * Behind a load balancer with several proxies, each poll names its proxy and the live proxies
 * (HEADER_PROXY_ID, HEADER_PROXIES): the client dials the same address again, one dial at a time
 * with its own jittered backoff, until it holds a tunnel to every proxy; a dial that lands on a
 * proxy it holds already replaces that tunnel (the proxy keeps the newest), so nothing is lost
 * but the try. A proxy gone from the list is no longer sought.
 */
export class TunnelClient {
  private readonly h2: Http2Server;
  /** Redials after every tunnel dropped. */
  private readonly backoff = new Backoff();
  /** Dials in search of proxies not held yet. */
  private readonly seeking = new Backoff(100, 5000);
  /** Dials left at a short interval, for each proxy learnt of and not reached yet (see seek()). */
  private readonly quickDials = new Map<string, number>();
  /** The dial in progress (until its first poll, or its close): one at a time. */
  private dialing: TLSSocket | undefined;
  /** Every socket still open: after a renewal, the old tunnels' until the proxies let them go. */
  private readonly sockets = new Set<TLSSocket>();
  /** The newest session to each proxy, by the id its polls carry. */
  private readonly held = new Map<string, Http2Session>();
  private readonly proxyOf = new WeakMap<Http2Session, string>();
  /** Sessions from before a redial (renewal): replaced one by one as new tunnels come up. */
  private readonly stale = new WeakSet<Http2Session>();
  /** The cluster's live proxies, as the latest poll named them. */
  private wanted: string[] = [];
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
   * New tunnels at once (after a certificate renewal), make before break: each proxy replaces
   * the old tunnel when the new one registers, so the agent's resources never go offline in
   * between; the old sockets' closes are then no disconnect.
   */
  redial(): void {
    for (const session of this.held.values()) this.stale.add(session);
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.dialing = undefined;
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
    this.dialing = socket;
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
      if (this.dialing === socket) this.dialing = undefined;
      if (this.stopped) return;
      if (this.sockets.size > 0) return this.seek(); // others are up: look for what this one held
      const delay = this.backoff.next();
      const why = this.refusal ?? 'the connection closed';
      this.refusal = undefined;
      this.log.warn(`tunnel to ${where} is down (${why}); retrying in ${delay} ms`, { proxy: where, retry_ms: delay });
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.dial();
      }, delay);
    });
  }

  /**
   * A poll named its proxy and the live ones: the session is that proxy's tunnel (an older one
   * to it is let go: the proxy has replaced it), and any proxy without a tunnel is sought.
   */
  private learn(session: Http2Session, proxyId: string, proxies: string[]): void {
    const wanted = proxies.includes(proxyId) ? proxies : [...proxies, proxyId];
    // A proxy not known before (started, or restarted with a new id) gets quick dials: see seek().
    const fresh = wanted.filter((id) => !this.wanted.includes(id) && !this.held.has(id));
    for (const id of fresh) this.quickDials.set(id, QUICK_DIALS);
    this.wanted = wanted;
    if (fresh.length > 0 && this.retryTimer && this.sockets.size > (this.dialing ? 1 : 0)) {
      clearTimeout(this.retryTimer); // a long wait for another proxy should not hold up this one
      this.retryTimer = undefined;
    }
    if (!this.proxyOf.has(session)) {
      this.proxyOf.set(session, proxyId);
      const previous = this.held.get(proxyId);
      this.held.set(proxyId, session);
      this.quickDials.delete(proxyId);
      // A proxy reached again closes the older tunnel itself, once this one has announced (its
      // streams run on); closing it here could refuse a stream the proxy sends it meanwhile.
      if (!previous) this.seeking.reset(); // a proxy reached for the first time
      session.once('close', () => {
        if (this.held.get(proxyId) === session) this.held.delete(proxyId);
      });
    }
    this.seek();
  }

  /**
   * Dials again, after a jittered wait, while some live proxy has no fresh tunnel from this agent.
   * The load balancer picks the proxy, so each dial reaches a missing one by chance (one in three
   * with three proxies, round robin): a proxy just learnt of gets QUICK_DIALS dials a few hundred
   * milliseconds apart, which find it within seconds; after those (a proxy that died, whose
   * record lingers until it expires), the waits grow to 5 s.
   */
  private seek(): void {
    if (this.stopped || this.dialing || this.retryTimer) return;
    const missing = this.wanted.filter((id) => {
      const session = this.held.get(id);
      return !session || this.stale.has(session);
    });
    if (missing.length === 0) return;
    const quick = missing.filter((id) => (this.quickDials.get(id) ?? 0) > 0);
    for (const id of quick) this.quickDials.set(id, this.quickDials.get(id)! - 1);
    const delay = quick.length > 0 ? Math.round(QUICK_DIAL_MS * (0.5 + Math.random())) : this.seeking.next();
    this.log.debug(`holding tunnels to ${this.wanted.length - missing.length} of ${this.wanted.length} proxies; dialling again in ${delay} ms`, { missing });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.dial();
    }, delay);
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
      else this.dialing = undefined; // the first poll of the tunnel last dialled: that dial is done
      const proxyId = headers[HEADER_PROXY_ID];
      if (typeof proxyId === 'string' && proxyId && stream.session) this.learn(stream.session, proxyId, String(headers[HEADER_PROXIES] ?? '').split(',').filter(Boolean));
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
    this.log.info(`tunnel to ${formatHostPort(this.proxy)} is up`, { proxy_id: this.proxyOf.get(session) });
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
