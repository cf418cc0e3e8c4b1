import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { PosternError } from '../errors/postern-error.js';
import { formatHostPort } from '../net/addr.js';
import { connectionError, connectToProxy, type ProxyEndpoint } from './api-client.js';

/** The response head must arrive within this time, and be no larger than this. */
export const ANSWER_TIMEOUT_MS = 15_000;
export const MAX_HEAD = 64 * 1024;

/** The endpoint with a bearer token for one CONNECT, when there is one. */
export function withBearer(endpoint: ProxyEndpoint, bearer: string | undefined): ProxyEndpoint {
  return bearer ? { ...endpoint, bearer } : endpoint;
}

/** Why a CONNECT got no usable answer: none in time, or one too large to be the proxy's. */
export const noAnswer = (where: string, timeoutMs: number) => new PosternError('PROXY_UNREACHABLE', `${where} did not answer the CONNECT within ${timeoutMs / 1000} s`);
export const oversizedAnswer = () => new PosternError('PROXY_UNREACHABLE', 'the proxy sent an oversized answer to CONNECT');

/** A refused CONNECT: the proxy's typed error, with the HTTP status it came with. */
export class ConnectRefused extends PosternError {
  constructor(
    readonly httpStatus: number,
    from: PosternError,
  ) {
    super(from.code, from.message);
  }
}

/**
 * Opens a tunnel through the proxy to a route (`CONNECT host:port` over TLS, HTTP/1.1), with the
 * endpoint's certificate or bearer token. Resolves with the TLS socket once the proxy answered
 * 200 (any bytes after the answer are kept for the reader); rejects with the proxy's reason.
 */
export async function connectRoute(endpoint: ProxyEndpoint, authority: string, connection?: TLSSocket): Promise<TLSSocket> {
  const where = formatHostPort(endpoint.proxy);
  const socket = connection ?? connectToProxy(endpoint, { ALPNProtocols: ['http/1.1'] });
  const timer = setTimeout(() => socket.destroy(noAnswer(where, ANSWER_TIMEOUT_MS)), ANSWER_TIMEOUT_MS);
  try {
    if (!connection) await once(socket, 'secureConnect');
    const auth = endpoint.bearer ? `Proxy-Authorization: Bearer ${endpoint.bearer}\r\n` : '';
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth}\r\n`);
    const { status, body, rest } = await readAnswer(socket);
    if (status !== 200) {
      socket.destroy();
      throw refusal(status, body, where);
    }
    if (rest.length) socket.unshift(rest);
    return socket;
  } catch (err) {
    socket.destroy();
    throw err instanceof PosternError ? err : connectionError(err as NodeJS.ErrnoException, where);
  } finally {
    clearTimeout(timer);
  }
}

/** The proxy's refusal of a CONNECT: its typed error (a JSON body), or the bare status. */
export function refusal(status: number, body: string, where: string): ConnectRefused {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = { error: { code: 'PROXY_UNREACHABLE', message: `${where} answered CONNECT with HTTP ${status}` } };
  }
  return new ConnectRefused(status, PosternError.fromJSON(parsed));
}

/**
 * The proxy reset an open tunnel (to `what`: a route's host:port, a node). It says why only in
 * its logs, so the message names the usual causes.
 */
export function tunnelLost(err: NodeJS.ErrnoException, what: string): PosternError {
  return new PosternError(
    'TUNNEL_CLOSED',
    `the proxy ended the tunnel to ${what} (${err.code ?? err.message}): a lock, a role change or an expired certificate ends open tunnels at once, as does a proxy restart; run the command again to see the proxy's answer`,
  );
}

/** Reads the response head (and, for errors, a Content-Length body) off the socket. */
function readAnswer(socket: TLSSocket): Promise<{ status: number; body: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buffered.length > MAX_HEAD) finish(oversizedAnswer());
        return;
      }
      const head = buffered.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
      const length = Number(head.find((h) => /^content-length:/i.test(h))?.split(':')[1] ?? 0);
      const afterHead = buffered.subarray(end + 4);
      if (status !== 200 && afterHead.length < length) return; // wait for the whole error body
      finish(undefined, { status, body: status === 200 ? '' : afterHead.subarray(0, length).toString('utf8'), rest: status === 200 ? afterHead : Buffer.alloc(0) });
    };
    const onEnd = () => finish(new PosternError('PROXY_UNREACHABLE', 'the proxy closed the connection without answering CONNECT'));
    const finish = (err?: Error, answer?: { status: number; body: string; rest: Buffer }) => {
      socket.off('data', onData).off('end', onEnd).off('error', finish);
      socket.pause();
      if (err) reject(err);
      else resolve(answer!);
    };
    socket.on('data', onData).once('end', onEnd).once('error', finish);
  });
}

/**
 * Taken spares are replaced once no tunnel has been opened for this long. A handshake costs the
 * proxy and this process about 1 ms of CPU each; made while tunnels are being opened one after
 * another, it lands on the next one and doubles its set-up time. Tunnels opened meanwhile go over
 * the overflow (see SpareOptions).
 */
const REFILL_QUIET_MS = 50;
/** …or at the latest this long after the first take it waits on, so that steady traffic still gets spares. */
const REFILL_LATEST_MS = 500;

/** How many handshaken connections a listener keeps ready, and for how long. */
export interface SpareOptions {
  /** Two by default: a client that opens a couple of connections at once gets one each. */
  size?: number;
  /** Below the proxy's 20 s limit for a connection that sends no request, so a spare is never stale. */
  renewAfterMs?: number;
  /** Opens a tunnel when no spare is ready (by default over a new connection of its own). */
  overflow?: (authority: string, bearer?: string) => Promise<Duplex>;
}

interface Spare {
  socket: TLSSocket;
  /** Whether the handshake is done. */
  ready: boolean;
  renew: NodeJS.Timeout;
}

/**
 * TLS connections to the proxy with the handshake done ahead of need, for a listener that opens
 * tunnels (`postern tcp --listen`): a tunnel on a spare costs the CONNECT round trip and not a TLS
 * handshake as well, and has a connection of its own (the fastest way to carry bulk bytes). Taken
 * spares are replaced when the listener is quiet (REFILL_QUIET_MS, REFILL_LATEST_MS); until then,
 * and whenever none is ready, tunnels go over the overflow, which for `postern tcp` is one shared
 * HTTP/2 connection (MultiplexedTunnels). Spares are renewed before the proxy would drop them for
 * sending no request; one the proxy closed meanwhile is never used. A spare carries no identity of
 * its own beyond the endpoint's certificate: a bearer token goes in each CONNECT.
 */
export class SpareConnections {
  private readonly spares: Spare[] = [];
  private readonly size: number;
  private readonly renewAfterMs: number;
  private readonly overflow: (authority: string, bearer?: string) => Promise<Duplex>;
  private refill: { timer: NodeJS.Timeout; latest: number } | undefined;
  private closed = false;

  constructor(
    private readonly endpoint: ProxyEndpoint,
    opts: SpareOptions = {},
  ) {
    this.size = opts.size ?? 2;
    this.renewAfterMs = opts.renewAfterMs ?? 15_000;
    this.overflow = opts.overflow ?? ((authority, bearer) => connectRoute(withBearer(endpoint, bearer), authority));
    this.fill();
  }

  /**
   * A tunnel over a spare connection, else over the overflow. If the proxy closed the spare just
   * as it was taken (or timed it out with a 408), the tunnel goes over the overflow instead; other
   * refusals are the proxy's answer and are not retried.
   */
  async connectRoute(authority: string, bearer?: string): Promise<Duplex> {
    const warm = this.take();
    this.refillWhenQuiet();
    if (!warm) return this.overflow(authority, bearer);
    try {
      return await connectRoute(withBearer(this.endpoint, bearer), authority, warm);
    } catch (err) {
      if (err instanceof ConnectRefused && err.httpStatus !== 408) throw err;
      return this.overflow(authority, bearer);
    }
  }

  /** Closes the spares and makes no more; tunnels already open are left alone. */
  close(): void {
    this.closed = true;
    clearTimeout(this.refill?.timer);
    for (const spare of this.spares.splice(0)) {
      clearTimeout(spare.renew);
      spare.socket.destroy();
    }
  }

  /** Tops the pool up once no tunnel has been opened for REFILL_QUIET_MS (within REFILL_LATEST_MS). */
  private refillWhenQuiet(): void {
    if (this.closed) return;
    const latest = this.refill?.latest ?? performance.now() + REFILL_LATEST_MS;
    clearTimeout(this.refill?.timer);
    const timer = setTimeout(
      () => {
        this.refill = undefined;
        this.fill();
      },
      Math.min(REFILL_QUIET_MS, Math.max(0, latest - performance.now())),
    ).unref();
    this.refill = { timer, latest };
  }

  /** The oldest spare that is handshaken and still open, taken out of the pool. */
  private take(): TLSSocket | undefined {
    const spare = this.spares.find((s) => s.ready && !s.socket.destroyed && s.socket.readyState === 'open');
    if (!spare) return undefined;
    this.drop(spare);
    spare.socket.ref();
    return spare.socket;
  }

  private fill(): void {
    while (!this.closed && this.spares.length < this.size) this.spares.push(this.prepare());
  }

  private prepare(): Spare {
    const socket = connectToProxy(this.endpoint, { ALPNProtocols: ['http/1.1'] });
    socket.unref(); // a spare does not keep the process alive
    const spare: Spare = {
      socket,
      ready: false,
      renew: setTimeout(() => {
        this.drop(spare);
        socket.destroy();
        this.fill();
      }, this.renewAfterMs).unref(),
    };
    socket.once('secureConnect', () => (spare.ready = true));
    // One that fails or is closed leaves the pool; it is replaced at the next refill.
    socket.on('error', () => {});
    socket.once('close', () => this.drop(spare));
    return spare;
  }

  private drop(spare: Spare): void {
    clearTimeout(spare.renew);
    const at = this.spares.indexOf(spare);
    if (at >= 0) this.spares.splice(at, 1);
  }
}
