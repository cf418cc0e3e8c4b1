import { request, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { announcementKey } from '../../resources/table.js';
import type { TunnelRegistry } from '../../tunnel/registry.js';
import type { WebRequest, WebResponse } from '../web/http.js';
import type { App } from './app-catalog.js';
import { openAppStream, TunnelAgent, type AppTls } from './tunnel-agent.js';

/** Headers that describe one hop, never forwarded (RFC 9110 §7.6.1), plus HTTP/2's own. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);
/** What a client may not tell the app about itself: the proxy says it (or nobody does). */
const CLIENT_MAY_NOT_SEND = /^(x-forwarded-|forwarded$|x-real-ip$|postern-)/;
/** Postern's own cookies never reach apps. */
const POSTERN_COOKIE = /^__Host-postern_/;

/** One request's outcome, for the audit log. */
export interface ForwardStats {
  status: number;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
}

export interface ForwardContext {
  app: App;
  /** The client's address (from PROXY protocol when present). */
  clientAddr: string;
  /** The Host the client asked for (the app's public address). */
  publicHost: string;
  /** Headers the proxy adds: the signed assertion and the app's rewrites. */
  identityHeaders: Record<string, string>;
}

/**
 * Forwards HTTP requests and WebSocket upgrades to apps through their agents' tunnels, one
 * keep-alive pool per app. Bodies stream both ways; the proxy owns X-Forwarded-* and Postern-*
 * headers (anything the client sent under those names is dropped first), keeps its own cookies
 * away from apps, keeps each app's cookies on its own host, and rewrites redirects that point at
 * the app's internal address.
 */
export class AppForwarder {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly tunnels: TunnelRegistry) {}

  forward(req: WebRequest, res: WebResponse, ctx: ForwardContext, done: (err: Error | undefined, stats?: ForwardStats) => void): void {
    const started = performance.now();
    const { agent, target } = this.pool(ctx.app);
    let bytesIn = 0;
    let bytesOut = 0;
    const upstream = request(
      {
        agent,
        method: req.method,
        path: req.url,
        headers: outgoingHeaders(req.headers, target, ctx),
        setHost: false,
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, incomingHeaders(upRes, target, ctx.publicHost));
        upRes.on('data', (chunk: Buffer) => (bytesOut += chunk.length));
        upRes.pipe(res as NodeJS.WritableStream);
        upRes.once('end', () => done(undefined, { status: upRes.statusCode ?? 0, bytesIn, bytesOut, durationMs: performance.now() - started }));
        upRes.once('error', () => res.destroy());
      },
    );
    upstream.setTimeout(120_000, () => upstream.destroy(new Error('the app sent nothing for 120 s')));
    upstream.once('error', (err) => {
      if (!res.headersSent) done(err);
      else res.destroy();
    });
    if (hasNoBody(req)) {
      upstream.end(); // most requests: no pipe to set up and tear down
    } else {
      req.on('data', (chunk: Buffer) => (bytesIn += chunk.length));
      (req as NodeJS.ReadableStream).pipe(upstream);
    }
    res.once('close', () => {
      // The browser went away: stop the app's side too, unless it already finished.
      if (!upstream.writableFinished || !res.writableFinished) upstream.destroy();
    });
  }

  /**
   * A WebSocket (HTTP/1.1 upgrade): opens a stream to the app and sends the handshake on as is
   * (with the proxy's headers). The caller relays bytes both ways from then on, untouched: the
   * app's 101 goes straight back to the client.
   */
  async openUpgrade(req: IncomingMessage, head: Buffer, ctx: ForwardContext): Promise<Duplex> {
    const { target, tls } = this.pool(ctx.app);
    const stream = await openAppStream(() => this.tunnels.dial('app', ctx.app.name, ctx.app.announced), tls);
    const headers = outgoingHeaders(req.headers, target, ctx);
    // The upgrade's own hop-by-hop headers are the point here: put them back.
    headers.connection = 'Upgrade';
    headers.upgrade = req.headers.upgrade ?? 'websocket';
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (const [name, value] of Object.entries(headers)) {
      for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined) lines.push(`${name}: ${String(v).replace(/[\r\n]/g, '')}`);
    }
    stream.write(lines.join('\r\n') + '\r\n\r\n');
    if (head.length) stream.write(head);
    return stream;
  }

  /** The app's keep-alive pool and parsed target; a new announcement (URI, labels) gets a new pool. */
  private pool(app: App): Pool {
    const key = `${app.name} ${announcementKey(app.announced)}`;
    let pool = this.pools.get(key);
    if (!pool) {
      const target = new URL(app.uri);
      const tls = target.protocol === 'https:' ? { servername: target.hostname, verify: !app.announced.insecure_skip_verify } : undefined;
      pool = { agent: new TunnelAgent(() => this.tunnels.dial('app', app.name, app.announced), tls), target, tls };
      for (const [old, stale] of this.pools) {
        if (!old.startsWith(`${app.name} `)) continue;
        stale.agent.destroy();
        this.pools.delete(old);
      }
      this.pools.set(key, pool);
    }
    return pool;
  }
}

interface Pool {
  agent: TunnelAgent;
  target: URL;
  tls: AppTls | undefined;
}

/** Whether a request is complete with its headers (RFC 9112 §6.3: no length, no chunking; HTTP/2: END_STREAM on HEADERS). */
function hasNoBody(req: WebRequest): boolean {
  if ('stream' in req) return req.stream.endAfterHeaders;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
}

/** The request headers the app sees. */
function outgoingHeaders(incoming: IncomingHttpHeaders, target: URL, ctx: ForwardContext): OutgoingHttpHeaders {
  const connectionTokens = new Set(String(incoming.connection ?? '').toLowerCase().split(',').map((t) => t.trim()));
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || name.startsWith(':') || name === 'host' || HOP_BY_HOP.has(name) || connectionTokens.has(name) || CLIENT_MAY_NOT_SEND.test(name)) continue;
    out[name] = value;
  }
  const cookies = withoutPosternCookies(incoming.cookie);
  if (cookies) out.cookie = cookies;
  else delete out.cookie;
  out.host = target.host;
  out['x-forwarded-for'] = ctx.clientAddr;
  out['x-forwarded-proto'] = 'https';
  out['x-forwarded-host'] = ctx.publicHost;
  for (const [name, value] of Object.entries(ctx.identityHeaders)) out[name.toLowerCase()] = value;
  return out;
}

/** The response headers the browser sees. */
function incomingHeaders(res: IncomingMessage, target: URL, publicHost: string): OutgoingHttpHeaders {
  const connectionTokens = new Set(String(res.headers.connection ?? '').toLowerCase().split(',').map((t) => t.trim()));
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || connectionTokens.has(name)) continue;
    out[name] = value;
  }
  const location = res.headers.location;
  if (location) out.location = publicLocation(location, target, publicHost);
  const cookies = res.headers['set-cookie'] && appSetCookies(res.headers['set-cookie']);
  if (cookies?.length) out['set-cookie'] = cookies;
  else delete out['set-cookie'];
  return out;
}

/**
 * An app's cookies, kept on the app's own host: a `Domain` attribute is dropped (with it, an app
 * could set cookies for the proxy's host and every other app under it), and so is any cookie
 * under Postern's own names (an app must not replace the session that lets the browser in).
 */
export function appSetCookies(values: readonly string[]): string[] {
  return values
    .filter((v) => !POSTERN_COOKIE.test(v.slice(0, v.indexOf('=')).trim()))
    .map((v) =>
      v
        .split(';')
        .filter((attribute, i) => i === 0 || !/^\s*domain\s*(=|$)/i.test(attribute))
        .join(';'),
    );
}

/** A redirect to the app's internal address becomes one to its public address; others are left alone. */
export function publicLocation(location: string, target: URL, publicHost: string): string {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return location; // relative: already right
  }
  return url.host === target.host && url.protocol === target.protocol ? `https://${publicHost}${url.pathname}${url.search}${url.hash}` : location;
}

function withoutPosternCookies(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const kept = header
    .split(';')
    .map((c) => c.trim())
    .filter((c) => c && !POSTERN_COOKIE.test(c.split('=')[0]!.trim()));
  return kept.length ? kept.join('; ') : undefined;
}
