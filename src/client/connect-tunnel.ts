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
export async function connectRoute(endpoint: ProxyEndpoint, authority: string): Promise<TLSSocket> {
  const where = formatHostPort(endpoint.proxy);
  const socket = connectToProxy(endpoint, { ALPNProtocols: ['http/1.1'] });
  const timer = setTimeout(() => socket.destroy(new PosternError('PROXY_UNREACHABLE', `${where} did not answer the CONNECT within ${ANSWER_TIMEOUT_MS / 1000} s`)), ANSWER_TIMEOUT_MS);
  try {
    await once(socket, 'secureConnect');
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
