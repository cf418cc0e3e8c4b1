import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { ProfileStore } from '../client/profile-store.js';
import { PosternError, toPosternError } from '../errors/postern-error.js';
import type { Logger } from '../log/logger.js';
import { cookie, readJson } from '../proxy/web/body.js';
import { sendJson } from '../proxy/web/respond.js';
import { UiFiles } from '../proxy/web/ui-files.js';
import { VERSION } from '../version.js';
import { CONNECT_COOKIE, CONNECT_PAGE, type AddClusterRequest, type ConnectClusters, type ConnectGateways, type ConnectLoginRequest, type ConnectStatus, type ConnectTerminals, type GatewaySpec } from '../wire/connect.js';
import { Clusters } from './clusters.js';
import { Gateways } from './gateways.js';
import { checkTerminal, Terminals } from './terminals.js';
import { Workspace } from './workspace.js';

/** A request must have sent its headers, and its whole body, this soon. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 60_000;
/** One person's browser: a handful of connections; more is something else. */
const MAX_CONNECTIONS = 64;

export interface DaemonOptions {
  /** 0: a free port. */
  port: number;
  insecure: boolean;
  store: ProfileStore;
  log: Logger;
}

export interface RunningDaemon {
  /** http://127.0.0.1:PORT/web/connect#token=…: what the browser opens (the token is exchanged for a cookie). */
  url: string;
  port: number;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, name: string) => Promise<unknown>;

/**
 * The Postern Connect daemon: its page and API on loopback only. A per-launch token (32 random
 * bytes) travels in the URL's fragment, which browsers never send; the page trades it once per
 * browser for an HttpOnly, SameSite=Strict cookie holding a second secret. Every API request
 * must carry that cookie, a Host of this very address (a page of another site whose name was
 * pointed at 127.0.0.1, DNS rebinding, sends its own name), and, where browsers send one, an
 * Origin of this address. Both secrets are compared in constant time.
 */
export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const token = randomBytes(32).toString('base64url');
  const session = randomBytes(32).toString('base64url');
  const clusters = new Clusters(opts.store, { insecure: opts.insecure });
  const workspace = new Workspace(opts.store.home, opts.log);
  const saved = workspace.load();
  const endpointOf = (name: string) => clusters.endpointOf(name);
  const gateways = new Gateways(workspace, endpointOf, opts.log);
  const terminals = new Terminals(opts.store.home, workspace, (name) => clusters.proxyOf(name), endpointOf, opts.log);
  const sockets = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
  const ui = new UiFiles();
  let origin = '';

  const api: Record<string, Handler> = {
    'GET /api/status': async () => ({ version: VERSION, insecure: opts.insecure, home: opts.store.home }) satisfies ConnectStatus,
    'GET /api/clusters': async () => ({ clusters: clusters.list() }) satisfies ConnectClusters,
    'POST /api/clusters': async (req) => clusters.add((await readJson(req)) as unknown as AddClusterRequest),
    'POST /api/clusters/*/login': async (req, _res, name) => clusters.login(name, loginRequest(await readJson(req))),
    'POST /api/clusters/*/logout': async (_req, _res, name) => clusters.logout(name),
    'POST /api/clusters/*/select': async (_req, _res, name) => clusters.select(name),
    'DELETE /api/clusters/*': async (_req, _res, name) => {
      clusters.forget(name);
      return { removed: true };
    },
    'GET /api/clusters/*/resources': async (_req, _res, name) => clusters.resources(name),
    'GET /api/gateways': async () => ({ gateways: gateways.list() }) satisfies ConnectGateways,
    'POST /api/gateways': async (req) => gateways.create((await readJson(req)) as unknown as GatewaySpec),
    'POST /api/gateways/*/retry': async (req, _res, id) => gateways.retry(id, portOf(await readJson(req))),
    'DELETE /api/gateways/*': async (_req, _res, id) => {
      await gateways.remove(id);
      return { removed: true };
    },
    'GET /api/terminals': async () => ({ terminals: terminals.list() }) satisfies ConnectTerminals,
    'POST /api/terminals': async (req) => terminals.open(checkTerminal(await readJson(req))),
    'DELETE /api/terminals/*': async (_req, _res, id) => {
      terminals.close(id);
      return { closed: true };
    },
  };

  const server: Server = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS }, (req, res) => {
    void serve(req, res).catch((err: unknown) => {
      const e = toPosternError(err);
      if (e.status >= 500) opts.log.error('a Connect request failed', { err, path: req.url });
      if (!res.headersSent) sendJson(res, e.status, e.toJSON(''));
      else res.destroy();
    });
  });
  server.maxConnections = MAX_CONNECTIONS;

  /** Only this address by this name: a rebinding page (evil.example → 127.0.0.1) sends its own Host. */
  function checkHost(req: IncomingMessage): void {
    if (req.headers.host !== new URL(origin).host) throw new PosternError('ORIGIN_REFUSED', `this is Postern Connect's daemon; open ${origin}${CONNECT_PAGE} as \`postern connect\` printed it`);
  }

  function checkSession(req: IncomingMessage): void {
    if (!secretsEqual(cookie(req.headers, CONNECT_COOKIE) ?? '', session)) {
      throw new PosternError('UNAUTHENTICATED', 'this browser has not opened the launch link of this daemon: open the address `postern connect` printed');
    }
  }

  // A terminal tab's stream: the same checks as the API, and an Origin always (browsers send one with every WebSocket).
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      checkHost(req);
      if (req.headers.origin !== origin) throw new PosternError('ORIGIN_REFUSED', 'only the daemon\'s own page may open a terminal');
      checkSession(req);
      const id = /^\/api\/terminals\/([0-9a-f]{12})\/socket$/.exec(new URL(req.url ?? '/', origin).pathname)?.[1];
      if (!id) throw new PosternError('NOT_FOUND', 'no such terminal');
      sockets.handleUpgrade(req, socket, head, (ws) => void terminals.attach(id, ws));
    } catch (err) {
      const e = toPosternError(err);
      socket.end(`HTTP/1.1 ${e.status} ${e.code}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    }
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    checkHost(req);
    if (req.method === 'GET' && (url.pathname === '/' || url.pathname === '/web' || url.pathname === '/web/')) {
      res.writeHead(303, { location: CONNECT_PAGE }).end();
      return;
    }
    if (req.method === 'GET' && url.pathname.startsWith('/web/')) return ui.send(res, url.pathname.slice('/web/'.length));
    if (!url.pathname.startsWith('/api/')) throw new PosternError('NOT_FOUND', `no such page: ${url.pathname}`);
    checkOrigin(req, origin);
    if (req.method === 'POST' && url.pathname === '/api/session') {
      const body = await readJson(req);
      if (!secretsEqual(String(body.token ?? ''), token)) throw new PosternError('UNAUTHENTICATED', 'that launch link is not this daemon\'s: open the address `postern connect` printed last');
      sendJson(res, 200, { ok: true }, { 'set-cookie': `${CONNECT_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/` });
      return;
    }
    checkSession(req);
    const [route, name] = match(api, req.method ?? 'GET', url.pathname);
    if (!route) throw new PosternError('NOT_FOUND', `no such API call: ${req.method} ${url.pathname}`);
    sendJson(res, 200, await route(req, res, name));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new PosternError('LISTEN_FAILED', `cannot listen on 127.0.0.1:${opts.port}: ${err.code === 'EADDRINUSE' ? 'the port is in use; choose another with --port, or leave it out for a free one' : err.message}`, { cause: err })),
    );
    server.listen(opts.port, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;
  // In the background: a cluster out of reach must not hold the page up.
  void gateways.restore(saved.gateways).catch((err: unknown) => opts.log.error('restoring the saved gateways failed', { err }));
  void terminals.restore(saved.terminals);
  return {
    url: `${origin}${CONNECT_PAGE}#token=${token}`,
    port,
    close: async () => {
      terminals.closeAll();
      await gateways.closeAll();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** A route for `METHOD /path`, where `*` stands for one path segment (a cluster's name). */
function match(routes: Record<string, Handler>, method: string, path: string): [Handler | undefined, string] {
  for (const [key, handler] of Object.entries(routes)) {
    const [m, pattern] = key.split(' ') as [string, string];
    if (m !== method) continue;
    const want = pattern.split('/');
    const got = path.split('/');
    if (want.length !== got.length) continue;
    let name = '';
    if (want.every((part, i) => (part === '*' ? ((name = decodeURIComponent(got[i]!)), name !== '') : part === got[i]))) return [handler, name];
  }
  return [undefined, ''];
}

/** Browsers send Origin with every POST and with cross-origin GETs: it must be this daemon's. */
function checkOrigin(req: IncomingMessage, origin: string): void {
  const sent = req.headers.origin;
  if (sent !== undefined && sent !== origin) throw new PosternError('ORIGIN_REFUSED', `requests from ${sent} are refused: only the daemon's own page (${origin}) may call it`);
  if (sent === undefined && req.method !== 'GET') throw new PosternError('ORIGIN_REFUSED', "only the daemon's own page may call it (the request had no Origin)");
}

function secretsEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function portOf(body: Record<string, unknown>): number | undefined {
  if (body.port === undefined) return undefined;
  if (!Number.isInteger(body.port) || (body.port as number) < 0 || (body.port as number) > 65535) throw new PosternError('BAD_REQUEST', `port ${String(body.port)} is not a port number (0-65535)`);
  return body.port as number;
}

function loginRequest(body: Record<string, unknown>): ConnectLoginRequest {
  const { user, password, otp } = body;
  if (typeof user !== 'string' || !user || typeof password !== 'string' || !password) throw new PosternError('BAD_REQUEST', 'give user and password');
  return { user, password, ...(typeof otp === 'string' && otp ? { otp } : {}) };
}
