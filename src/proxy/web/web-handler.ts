import { randomUUID } from 'node:crypto';
import { createServer as createHttp2Server, type Http2Server, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createServer as createHttp1Server, type IncomingMessage, type Server as Http1Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { PosternError, toPosternError } from '../../errors/postern-error.js';
import type { Logger } from '../../log/logger.js';
import { bulkSettings, widenSessionWindow } from '../../net/h2-flow.js';
import type { ProtocolHandler, RoutedConnection } from '../router.js';
import { http1Connect, http2Connect, type ConnectRequest } from './connect-request.js';
import type { WebRequest, WebResponse } from './http.js';
import { sendError } from './respond.js';


/** What a route handler gets: the request, the connection it came on, and a request ID. */
export interface WebContext {
  req: WebRequest;
  res: WebResponse;
  conn: RoutedConnection;
  requestId: string;
  log: Logger;
  /** The path without its query string. */
  path: string;
  /** For a prefix route (`/web/invite/*`): the part of the path after the prefix. */
  rest: string;
}

export type WebRoute = (ctx: WebContext) => void | Promise<void>;

/**
 * A signed-in connection with no traffic for this long is closed. Between requests HTTP/1.1
 * keep-alive connections close sooner (keepAliveTimeout). Connections that have not proved who is
 * on them get proxy.unauthenticated_idle_timeout instead: idle ones are what a flood holds.
 */
const IDLE_TIMEOUT_MS = 120_000;
/** An HTTP/1.1 request must have sent all its headers within this time. */
const HEADERS_TIMEOUT_MS = 20_000;
/** Streams a browser or `postern tcp` may have open on one connection (each may be a tunnel). */
const MAX_STREAMS = 256;
const CONN = Symbol('postern.conn');
/** How long a refused request's remaining bytes are read (and dropped) before its connection closes. */
const CLIENT_ERROR_DRAIN_MS = 2000;
const ANSWERED = Symbol('postern.client-error-answered');
const EXTENDED = Symbol('postern.idle-extended');

/**
 * The handler for `h2`, `http/1.1` and no-ALPN connections. Two Node HTTP servers that never listen
 * themselves: the proxy listener hands them finished TLS sockets, h2 to the HTTP/2 server (which
 * then speaks HTTP/2 on the socket directly) and the rest to the HTTP/1.1 server. Both feed one
 * dispatcher. Routes are exact `METHOD /path` entries; later issues add the UI, apps and tunnels.
 */
export class WebHandler implements ProtocolHandler {
  private readonly http1: Http1Server;
  private readonly http2: Http2Server;
  private readonly routes = new Map<string, WebRoute>();
  /** Requests whose Host a handler claims (app domains) go to it whatever their path. */
  private hostHandler: { claims: (req: WebRequest, conn: RoutedConnection) => boolean; handle: WebRoute } | undefined;
  private upgradeHandler: ((req: IncomingMessage, socket: Duplex, head: Buffer, conn: RoutedConnection) => void) | undefined;
  private connectHandler: ((request: ConnectRequest) => void) | undefined;
  /** Routes registered with a trailing `*`, longest prefix first. */
  private readonly prefixRoutes: { method: string; prefix: string; handler: WebRoute }[] = [];

  constructor(
    private readonly log: Logger,
    opts: { unauthenticatedIdleMs: number },
  ) {
    const dispatch = (req: Http2ServerRequest | IncomingMessage, res: Http2ServerResponse | ServerResponse) => this.dispatch(req, res);
    this.http1 = createHttp1Server({ keepAliveTimeout: 30_000, headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: 0 }, dispatch);
    // Node enforces headersTimeout from a timer it starts on 'listening'. This server never
    // listens (it is handed sockets), so start that timer here: a client that trickles its
    // request headers is cut off instead of holding the connection.
    this.http1.emit('listening');
    this.http1.setTimeout(opts.unauthenticatedIdleMs);
    this.http1.on('timeout', (socket: TLSSocket) => this.idle(socket, () => socket.setTimeout(IDLE_TIMEOUT_MS), () => socket.destroy()));
    this.http1.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const conn = (req.socket as TLSSocket & { [CONN]?: RoutedConnection })[CONN];
      socket.on('error', () => {});
      if (!conn || !this.upgradeHandler) return void socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      this.upgradeHandler(req, socket, head, conn);
    });
    this.http1.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => {});
      const conn = (req.socket as TLSSocket & { [CONN]?: RoutedConnection })[CONN];
      if (!conn || !this.connectHandler) return void socket.end('HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\n\r\n');
      this.connectHandler(http1Connect(req, socket, head, conn));
    });
    this.http1.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex & { [ANSWERED]?: true }) => {
      // The parser stays in error and reports every later chunk of the same request again.
      if (socket[ANSWERED]) return;
      this.log.debug('malformed HTTP/1.1 request', { err });
      const answer = clientErrorAnswer(err.code);
      if (!answer || !socket.writable) return void socket.destroy();
      // Closing with the rest of the request unread would reset the connection, and the client
      // could lose the answer: the rest is read (by the parser, and dropped) for a moment, then it closes.
      socket[ANSWERED] = true;
      socket.end(answer);
      setTimeout(() => socket.destroy(), CLIENT_ERROR_DRAIN_MS).unref();
    });
    // Windows sized for CONNECT tunnels (see h2-flow.ts); pages and API calls do not notice.
    this.http2 = createHttp2Server({ settings: bulkSettings(MAX_STREAMS) }, dispatch);
    this.http2.on('connect', (req: Http2ServerRequest, res: Http2ServerResponse) => {
      const conn = (req.socket as TLSSocket & { [CONN]?: RoutedConnection })[CONN];
      if (!conn || !this.connectHandler) return void res.writeHead(405).end();
      this.connectHandler(http2Connect(req, res, conn));
    });
    this.http2.on('sessionError', (err) => this.log.debug('http/2 session error', { err }));
    // HTTP/2 frames are read by the session's native code, so the socket's own idle timer never
    // sees them; the session's timer does.
    this.http2.on('session', (session) => {
      const onIdle = () => this.idle(session.socket as TLSSocket, () => session.setTimeout(IDLE_TIMEOUT_MS, onIdle), () => session.close());
      session.setTimeout(opts.unauthenticatedIdleMs, onIdle);
      widenSessionWindow(session);
    });
  }

  /**
   * A connection went quiet for the unauthenticated timeout: closed, unless a request on it has
   * proved who is on it, which earns it the longer timeout once (a second quiet spell closes it).
   */
  private idle(socket: TLSSocket & { [CONN]?: RoutedConnection; [EXTENDED]?: true }, extend: () => void, close: () => void): void {
    if (socket[CONN]?.authenticated && !socket[EXTENDED]) {
      socket[EXTENDED] = true;
      extend();
    } else close();
  }

  close(): void {
    this.http1.close();
    this.http2.close();
  }

  /** Sends every request `claims` accepts (those for app domains) to `handle`, before any route. */
  hostRoute(claims: (req: WebRequest, conn: RoutedConnection) => boolean, handle: WebRoute): void {
    this.hostHandler = { claims, handle };
  }

  /** Handles HTTP/1.1 upgrades (WebSockets); without a handler they are refused. */
  onUpgrade(handler: (req: IncomingMessage, socket: Duplex, head: Buffer, conn: RoutedConnection) => void): void {
    this.upgradeHandler = handler;
  }

  /** Handles HTTP CONNECT, over HTTP/1.1 and HTTP/2 alike; without a handler it is refused. */
  onConnect(handler: (request: ConnectRequest) => void): void {
    this.connectHandler = handler;
  }

  /** An exact `METHOD /path`, or a prefix when the path ends with `*` (`/web/invite/*`). */
  route(method: string, path: string, handler: WebRoute): void {
    if (!path.endsWith('*')) {
      this.routes.set(`${method} ${path}`, handler);
      return;
    }
    this.prefixRoutes.push({ method, prefix: path.slice(0, -1), handler });
    this.prefixRoutes.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  handle(conn: RoutedConnection): void {
    (conn.socket as TLSSocket & { [CONN]?: RoutedConnection })[CONN] = conn;
    (conn.alpn === 'h2' ? this.http2 : this.http1).emit('connection', conn.socket);
  }

  private dispatch(req: WebRequest, res: WebResponse): void {
    // For HTTP/2 req.socket is a proxy that forwards property reads to the TLS socket.
    const conn = (req.socket as TLSSocket & { [CONN]?: RoutedConnection })[CONN];
    const requestId = randomUUID();
    if (!conn) {
      res.writeHead(500).end();
      return;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const log = conn.log.child({ request_id: requestId });
    const forApp = this.hostHandler?.claims(req, conn) ?? false;
    // The proxy's own host is HTTPS only, and says so; an app's host is left to the app.
    if (!forApp) res.setHeader('strict-transport-security', 'max-age=31536000');
    // HEAD is GET without the body (Node leaves the body out), so GET routes answer it.
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const found = forApp ? { handler: this.hostHandler!.handle, rest: '' } : this.find(method, path);
    if (!found) {
      sendError(res, notFound(req.method ?? 'GET', path, this.routes.keys()), requestId, req);
      return;
    }
    Promise.resolve()
      .then(() => found.handler({ req, res, conn, requestId, log, path, rest: found.rest }))
      .catch((err: unknown) => {
        let e = toPosternError(err);
        if (e.code === 'INTERNAL') log.error('request failed', { err, path });
        if (e.code === 'STORAGE_UNAVAILABLE') {
          // Why (the database's address, its error) is for the operator, not for whoever asked.
          log.warn('request failed: storage unavailable', { err, path });
          e = new PosternError('STORAGE_UNAVAILABLE', "the cluster cannot reach its storage right now; try again in a moment (the proxy's log says why, under this request's id)");
        }
        if (!res.headersSent) sendError(res, e, requestId, req);
        else res.destroy();
      });
  }

  private find(method: string, path: string): { handler: WebRoute; rest: string } | undefined {
    const exact = this.routes.get(`${method} ${path}`);
    if (exact) return { handler: exact, rest: '' };
    const prefix = this.prefixRoutes.find((r) => r.method === method && path.startsWith(r.prefix));
    return prefix && { handler: prefix.handler, rest: path.slice(prefix.prefix.length) };
  }
}

/** What to answer a request Node's parser refused, before closing; undefined when the peer is gone. */
function clientErrorAnswer(code: string | undefined): string | undefined {
  const plain = (status: string, text: string) => `HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`;
  if (code === 'ECONNRESET') return undefined;
  if (code === 'HPE_HEADER_OVERFLOW') return plain('431 Request Header Fields Too Large', 'The request headers are larger than 16 KiB, the most this proxy accepts.\n');
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ERR_HTTP_HEADERS_TIMEOUT') return plain('408 Request Timeout', 'The request headers did not arrive in time.\n');
  return plain('400 Bad Request', 'The request is not valid HTTP/1.1.\n');
}

function notFound(method: string, path: string, routes: Iterable<string>): PosternError {
  if (path.startsWith('/web/')) return new PosternError('NOT_FOUND', `there is no page at ${path}; start at /web`);
  const samePath = [...routes].filter((r) => r.endsWith(` ${path}`)).map((r) => r.split(' ')[0]);
  if (samePath.length > 0) return new PosternError('BAD_REQUEST', `${path} does not accept ${method}; use ${samePath.join(' or ')}`);
  return new PosternError('NOT_FOUND', `nothing is served at ${path}; see /webapi/ping for what this proxy serves`);
}
