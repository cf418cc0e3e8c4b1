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
 * One TLS connection to the proxy, handshake done ahead of need, for a listener that opens
 * tunnels one after another: a new tunnel then costs the CONNECT round trip and not a TLS
 * handshake as well. The spare is replaced as soon as it is taken; one the proxy has closed
 * meanwhile (it drops connections that send no request for a while) is never used.
 */
export class SpareConnection {
  private spare: Promise<TLSSocket | undefined> | undefined;

  constructor(private readonly endpoint: ProxyEndpoint) {}

  /** The spare if it is still open, else undefined (the caller connects as usual); a new spare is started either way. */
  async take(): Promise<TLSSocket | undefined> {
    const spare = this.spare;
    this.spare = this.prepare();
    const socket = await spare;
    if (!socket || socket.destroyed || socket.readyState !== 'open') return undefined;
    socket.ref();
    return socket;
  }

  /**
   * A tunnel over the spare connection; if the proxy closed that one just as it was taken (or
   * timed it out with a 408), over a new connection. Other refusals are the proxy's answer and
   * are not retried.
   */
  async connectRoute(authority: string, endpoint: ProxyEndpoint = this.endpoint): Promise<TLSSocket> {
    const warm = await this.take();
    if (!warm) return connectRoute(endpoint, authority);
    try {
      return await connectRoute(endpoint, authority, warm);
    } catch (err) {
      if (err instanceof ConnectRefused && err.httpStatus !== 408) throw err;
      return connectRoute(endpoint, authority);
    }
  }

  private async prepare(): Promise<TLSSocket | undefined> {
    const socket = connectToProxy(this.endpoint, { ALPNProtocols: ['http/1.1'] });
    socket.on('error', () => {}); // a spare that fails is simply not used
    socket.unref(); // nor does one keep the process alive
    try {
      await once(socket, 'secureConnect');
      return socket;
    } catch {
      socket.destroy();
      return undefined;
    }
  }
}
