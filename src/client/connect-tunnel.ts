import { once } from 'node:events';
import type { TLSSocket } from 'node:tls';
import { PosternError } from '../errors/postern-error.js';
import { formatHostPort } from '../net/addr.js';
import { connectionError, connectToProxy, type ProxyEndpoint } from './api-client.js';

/** The response head must arrive within this time, and be no larger than this. */
const ANSWER_TIMEOUT_MS = 15_000;
const MAX_HEAD = 64 * 1024;

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
  const timer = setTimeout(() => socket.destroy(new PosternError('PROXY_UNREACHABLE', `${where} did not answer the CONNECT within ${ANSWER_TIMEOUT_MS / 1000} s`)), ANSWER_TIMEOUT_MS);
  try {
    if (!connection) await once(socket, 'secureConnect');
    const auth = endpoint.bearer ? `Proxy-Authorization: Bearer ${endpoint.bearer}\r\n` : '';
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth}\r\n`);
    const { status, body, rest } = await readAnswer(socket);
    if (status !== 200) {
      socket.destroy();
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = { error: { code: 'PROXY_UNREACHABLE', message: `${where} answered CONNECT with HTTP ${status}` } };
      }
      throw new ConnectRefused(status, PosternError.fromJSON(parsed));
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
        if (buffered.length > MAX_HEAD) finish(new PosternError('PROXY_UNREACHABLE', 'the proxy sent an oversized answer to CONNECT'));
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
 * A taken spare is replaced this long after its tunnel was answered: a handshake costs the proxy
 * and this process about 1 ms of CPU each, which would otherwise land just as the new tunnel's
 * first bytes (an SSH banner, a key exchange) go through both.
 */
const REFILL_DELAY_MS = 5;
/** …and at the latest this long after it was taken, however long the answer takes. */
const REFILL_LATEST_MS = 250;

/** How many handshaken connections a listener keeps ready, and for how long. */
export interface SpareOptions {
  /** Two, so that tunnels opened one after another never wait on the handshake of the one before. */
  size?: number;
  /** Below the proxy's 20 s limit for a connection that sends no request, so a spare is never stale. */
  renewAfterMs?: number;
}

interface Spare {
  ready: Promise<TLSSocket | undefined>;
  renew: NodeJS.Timeout;
}

/**
 * TLS connections to the proxy with the handshake done ahead of need, for a listener that opens
 * tunnels (`postern tcp --listen`): a new tunnel then costs the CONNECT round trip and not a TLS
 * handshake as well. A taken spare is replaced shortly after its tunnel is answered (see
 * REFILL_DELAY_MS), and the pool holds two so the next tunnel need not wait for that handshake
 * to finish. Spares are renewed before the proxy would drop them for sending
 * no request; one the proxy closed meanwhile is never used. The connection carries no identity
 * of its own beyond the endpoint's certificate: a bearer token goes in each CONNECT.
 */
export class SpareConnections {
  private readonly spares: Spare[] = [];
  private readonly size: number;
  private readonly renewAfterMs: number;
  private refill: { due: number; timer: NodeJS.Timeout } | undefined;
  private closed = false;

  constructor(
    private readonly endpoint: ProxyEndpoint,
    opts: SpareOptions = {},
  ) {
    this.size = opts.size ?? 2;
    this.renewAfterMs = opts.renewAfterMs ?? 15_000;
    this.fill();
  }

  /**
   * A tunnel over a spare connection, else over a new one. If the proxy closed the spare just as
   * it was taken (or timed it out with a 408), the tunnel is opened again on a new connection;
   * other refusals are the proxy's answer and are not retried.
   */
  async connectRoute(authority: string, bearer?: string): Promise<TLSSocket> {
    const endpoint = bearer ? { ...this.endpoint, bearer } : this.endpoint;
    const warm = await this.take();
    // A slow answer (a target that takes long to dial) must not leave the pool empty meanwhile.
    this.refillWithin(REFILL_LATEST_MS);
    try {
      if (!warm) return await connectRoute(endpoint, authority);
      try {
        return await connectRoute(endpoint, authority, warm);
      } catch (err) {
        if (err instanceof ConnectRefused && err.httpStatus !== 408) throw err;
        return await connectRoute(endpoint, authority);
      }
    } finally {
      this.refillWithin(REFILL_DELAY_MS);
    }
  }

  /** Tops the pool up within `ms` (or sooner, if already due sooner). */
  private refillWithin(ms: number): void {
    if (this.closed) return;
    const due = performance.now() + ms;
    if (this.refill && this.refill.due <= due) return;
    clearTimeout(this.refill?.timer);
    this.refill = {
      due,
      timer: setTimeout(() => {
        this.refill = undefined;
        this.fill();
      }, ms).unref(),
    };
  }

  /** Closes the spares and makes no more; tunnels already open are left alone. */
  close(): void {
    this.closed = true;
    clearTimeout(this.refill?.timer);
    for (const spare of this.spares.splice(0)) {
      clearTimeout(spare.renew);
      void spare.ready.then((socket) => socket?.destroy());
    }
  }

  /** The oldest spare if it is still open, else undefined. */
  private async take(): Promise<TLSSocket | undefined> {
    const spare = this.spares.shift();
    if (!spare) return undefined;
    clearTimeout(spare.renew);
    const socket = await spare.ready;
    if (!socket || socket.destroyed || socket.readyState !== 'open') return undefined;
    socket.ref();
    return socket;
  }

  private fill(): void {
    while (!this.closed && this.spares.length < this.size) this.spares.push(this.prepare());
  }

  private prepare(): Spare {
    const socket = connectToProxy(this.endpoint, { ALPNProtocols: ['http/1.1'] });
    socket.on('error', () => {}); // a spare that fails is simply not used
    socket.unref(); // nor does one keep the process alive
    const ready = once(socket, 'secureConnect').then(
      () => socket,
      () => {
        socket.destroy();
        return undefined;
      },
    );
    const spare: Spare = {
      ready,
      renew: setTimeout(() => {
        const at = this.spares.indexOf(spare);
        if (at < 0) return;
        this.spares.splice(at, 1);
        void ready.then((s) => s?.destroy());
        this.fill();
      }, this.renewAfterMs).unref(),
    };
    return spare;
  }
}
