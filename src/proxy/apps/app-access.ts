import { randomBytes, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AuthService } from '../../auth/auth-service.js';
import type { Authorizer } from '../../auth/authorizer.js';
import type { LockWatcher } from '../../auth/lock-watcher.js';
import { checkRouteScope } from '../../auth/verifier.js';
import { lockedError } from '../../auth/locks.js';
import { isPosternError, PosternError, toPosternError } from '../../errors/postern-error.js';
import type { Logger } from '../../log/logger.js';
import { expandTemplates, type Subject } from '../../policy/traits.js';
import type { RoutedConnection } from '../router.js';
import { cookie } from '../web/body.js';
import { html, page } from '../web/html.js';
import { redirect, sendHtml, sendJson, wantsHtml } from '../web/respond.js';
import type { WebAuthenticator } from '../web/principal.js';
import type { WebContext, WebRequest } from '../web/web-handler.js';
import { offlinePage, type App, type AppCatalog } from './app-catalog.js';
import { APP_SESSION_COOKIE, APP_STATE_COOKIE, type AppSessions } from './app-sessions.js';
import type { AppForwarder } from './forwarder.js';
import type { JwtSigner } from './jwt.js';
import type { RequestLog } from './request-log.js';

/** Who is behind a request to an app, and how they proved it. */
interface AppIdentity extends Subject {
  via: 'session' | 'certificate';
  /** Stable per session or certificate: the key of the cached assertion. */
  key: string;
  /** For app sessions: the non-secret id and the cookie (for logout). */
  session?: { id: string; secret: string };
}

/** App sessions are re-checked against storage (web session alive, user's roles) this often. */
const IDENTITY_TTL_MS = 2_000;
const STATE_TTL_S = 300;
export const AUTH_CALLBACK = '/postern-auth/callback';
export const APP_LOGOUT = '/postern-logout';

export interface AppAccessDeps {
  catalog: AppCatalog;
  sessions: AppSessions;
  auth: AuthService;
  authn: WebAuthenticator;
  locks: LockWatcher;
  authorizer: Authorizer;
  forwarder: AppForwarder;
  jwt: JwtSigner;
  requests: RequestLog;
  log: Logger;
}

/**
 * Requests on an app's domain (`<app>.<proxy host>` or its own public_addr). A request with a
 * valid app session (or a certificate for this app) is authorized and forwarded with the signed
 * assertion. One without is sent through the launch flow: the app domain sets a random state in
 * a short-lived cookie and sends the browser to the proxy's launcher, which (for a logged-in,
 * allowed user) sends it back with a single-use code; the callback checks the state against the
 * cookie in constant time and trades the code for the app session cookie.
 */
export class AppAccess {
  private readonly identities = new Map<string, { identity: AppIdentity; until: number }>();

  constructor(private readonly deps: AppAccessDeps) {}

  /**
   * The app a request is for: the one its Host names or, on a connection that presents a client
   * certificate (curl, `postern proxy app` whose local clients send Host: localhost), the one
   * its TLS server name names. Browsers always name the app in Host, and may reuse one
   * connection for several apps, so for them Host alone decides.
   */
  appFor(req: WebRequest | IncomingMessage, conn: RoutedConnection): { name: string; app: App | undefined } | undefined {
    const byHost = this.deps.catalog.byHost(hostOf(req) ?? '');
    if (byHost || !conn.servername || !conn.socket.getPeerX509Certificate()) return byHost;
    return this.deps.catalog.byHost(conn.servername);
  }

  async handle(ctx: WebContext): Promise<void> {
    const { name, app } = this.appFor(ctx.req, ctx.conn)!;
    if (ctx.path === AUTH_CALLBACK) return this.callback(ctx, name);
    if (ctx.path === APP_LOGOUT) return this.logout(ctx, name);
    let identity: AppIdentity | undefined;
    try {
      identity = await this.identify(ctx.req, ctx.conn, name);
    } catch (err) {
      if (!isPosternError(err, 'UNAUTHENTICATED')) throw err;
    }
    if (!identity) return this.startLaunch(ctx, name);
    if (!app) {
      const { status, body } = await this.deps.catalog.notOnlinePage(name);
      return sendPage(ctx, status, body);
    }
    const decision = this.deps.authorizer.checker(identity).checkResource({ kind: 'app', name, labels: app.labels });
    if (!decision.allow) {
      await this.deps.auth.emit({ event: 'access.denied', user: identity.username, remote_addr: ctx.conn.clientAddr.address, kind: 'app', resource: name, reasons: decision.reasons });
      return sendPage(ctx, 403, deniedPage(identity.username, name, decision.reasons, this.deps.catalog.proxyUrl));
    }
    // HTTP to a TCP service would reach it as garbage: say how to connect instead.
    if (app.type === 'tcp') return sendPage(ctx, 400, tcpAppPage(name, this.deps.catalog.proxyUrl));
    await this.forward(ctx, app, identity);
  }

  /** WebSockets: the same identity and authorization, then the upgrade goes through as bytes. */
  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, conn: RoutedConnection): Promise<void> {
    const refuse = (status: number, reason: string): void => {
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${reason}\n`);
    };
    const found = this.appFor(req, conn);
    if (!found?.app) return refuse(503, `app ${found?.name ?? ''} is offline`);
    const identity = await this.identify(req, conn, found.name).catch(() => undefined);
    if (!identity) return refuse(401, 'no app session: open the app in the browser first');
    const decision = this.deps.authorizer.checker(identity).checkResource({ kind: 'app', name: found.name, labels: found.app.labels });
    if (!decision.allow) return refuse(403, decision.reasons.join('; '));
    if (found.app.type === 'tcp') return refuse(400, `${found.name} is a TCP app: connect with postern proxy app ${found.name} --port PORT`);
    await this.deps.forwarder.upgrade(req, socket, head, { app: found.app, clientAddr: conn.clientAddr.address, publicHost: found.app.publicAddr, identityHeaders: await this.identityHeaders(identity, found.app) });
  }

  private async forward(ctx: WebContext, app: App, identity: AppIdentity): Promise<void> {
    const headers = await this.identityHeaders(identity, app);
    this.deps.forwarder.forward(ctx.req, ctx.res, { app, clientAddr: ctx.conn.clientAddr.address, publicHost: app.publicAddr, identityHeaders: headers }, (err, stats) => {
      if (err) {
        const e = toPosternError(err);
        ctx.log.info('forwarding to an app failed', { app: app.name, reason: e.message });
        sendPage(ctx, e.code === 'AGENT_OFFLINE' ? 503 : 502, e.code === 'AGENT_OFFLINE' ? offlinePage(app.name, this.deps.catalog.proxyUrl) : errorPage(app.name, e.message));
        return;
      }
      if (stats) {
        this.deps.requests.record(
          { key: identity.key, fields: identity.session ? { session_id: identity.session.id } : { via: 'certificate' }, user: identity.username, app: app.name, remoteAddr: ctx.conn.clientAddr.address },
          { time: new Date().toISOString(), method: ctx.req.method ?? 'GET', path: ctx.path, status: stats.status, bytes_in: stats.bytesIn, bytes_out: stats.bytesOut, duration_ms: Math.round(stats.durationMs * 10) / 10 },
        );
      }
    });
  }

  /** The signed assertion, plus the app's own header rewrites with the person's traits filled in. */
  private async identityHeaders(identity: AppIdentity, app: App): Promise<Record<string, string>> {
    const headers: Record<string, string> = { 'postern-jwt-assertion': await this.deps.jwt.assertion(`${identity.key}:${app.name}`, identity, app.uri) };
    for (const line of app.rewriteHeaders) {
      const i = line.indexOf(':');
      const values = expandTemplates([line.slice(i + 1).trim()], identity);
      if (values.length) headers[line.slice(0, i).trim()] = values.join(', ');
    }
    return headers;
  }

  /** A certificate for this app (`postern apps login`), or an app session cookie; undefined when neither. */
  private async identify(req: WebRequest, conn: RoutedConnection, appName: string): Promise<AppIdentity | undefined> {
    const cert = this.deps.authn.certificatePrincipal(conn);
    if (cert) {
      checkRouteScope(cert.route, { kind: 'app', name: appName });
      return { username: cert.username, roles: cert.roles, traits: cert.traits, via: 'certificate', key: `cert:${cert.username}:${cert.expires.getTime()}` };
    }
    const secret = cookie(req.headers, APP_SESSION_COOKIE);
    if (!secret) return undefined;
    const cached = this.identities.get(secret);
    const identity = cached && cached.until > Date.now() ? cached.identity : await this.loadSession(secret, appName);
    if (!identity) return undefined;
    const lock = this.deps.locks.find({ username: identity.username, roles: identity.roles });
    if (lock) throw lockedError(lock);
    return identity;
  }

  /** An app session is good while its web session lives and its user exists; checked every couple of seconds. */
  private async loadSession(secret: string, appName: string): Promise<AppIdentity | undefined> {
    this.identities.delete(secret);
    const session = await this.deps.sessions.get(secret);
    if (!session || session.app !== appName) return undefined;
    const web = await this.deps.auth.sessions.byHash(session.web_session);
    const user = web && (await this.deps.auth.users.get(session.user));
    if (!user) {
      await this.deps.sessions.end(secret);
      await this.deps.auth.emit({ event: 'app.session.end', user: session.user, app: appName, session_id: session.id, reason: web ? 'the user was removed' : 'the web session ended' });
      return undefined;
    }
    const identity: AppIdentity = { username: user.name, roles: user.roles, traits: user.traits, via: 'session', key: `session:${session.id}`, session: { id: session.id, secret } };
    if (this.identities.size > 10_000) this.identities.clear();
    this.identities.set(secret, { identity, until: Date.now() + IDENTITY_TTL_MS });
    return identity;
  }

  /**
   * No session: a page load goes to the launcher with a fresh state in a cookie on this domain;
   * anything else (a script's request) gets 401, since a redirect would not help it.
   */
  private startLaunch(ctx: WebContext, name: string): void {
    if ((ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD') || !wantsHtml(ctx.req)) {
      sendJson(ctx.res, 401, new PosternError('UNAUTHENTICATED', `no session for app ${name}: open it in a browser to sign in`).toJSON(ctx.requestId));
      return;
    }
    const state = randomBytes(24).toString('base64url');
    const launch = new URL(`${this.deps.catalog.proxyUrl}/web/launch/${name}`);
    launch.searchParams.set('state', state);
    launch.searchParams.set('path', ctx.req.url ?? '/');
    redirect(ctx.res, launch.toString(), { 'set-cookie': `${APP_STATE_COOKIE}=${state}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${STATE_TTL_S}` });
  }

  private async callback(ctx: WebContext, name: string): Promise<void> {
    const params = new URL(ctx.req.url ?? '/', 'https://app').searchParams;
    const state = params.get('state') ?? '';
    const expected = cookie(ctx.req.headers, APP_STATE_COOKIE) ?? '';
    const sameBrowser = state.length > 0 && state.length === expected.length && timingSafeEqual(Buffer.from(state), Buffer.from(expected));
    const code = sameBrowser ? await this.deps.sessions.redeem(params.get('code') ?? '', name, state) : undefined;
    if (!code) {
      sendPage(ctx, 400, page('Sign-in link not valid', html`<h1>This sign-in link cannot be used</h1><p class="error">It was started in another browser, has expired, or was used already.</p><p><a href="/">Open ${name} again</a> to sign in.</p>`));
      return;
    }
    const { secret, session } = await this.deps.sessions.create(code);
    await this.deps.auth.emit({ event: 'app.session.start', user: session.user, remote_addr: ctx.conn.clientAddr.address, app: name, session_id: session.id });
    const maxAge = Math.max(0, Math.floor((Date.parse(session.expires) - Date.now()) / 1000));
    redirect(ctx.res, appPath(code.path), {
      'set-cookie': [`${APP_SESSION_COOKIE}=${secret}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${maxAge}`, `${APP_STATE_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0`],
    });
  }

  private async logout(ctx: WebContext, name: string): Promise<void> {
    const secret = cookie(ctx.req.headers, APP_SESSION_COOKIE);
    const session = secret ? await this.deps.sessions.get(secret) : undefined;
    if (secret && session) {
      await this.deps.sessions.end(secret);
      this.identities.delete(secret);
      this.deps.jwt.forget(`session:${session.id}:${name}`);
      await this.deps.auth.emit({ event: 'app.session.end', user: session.user, remote_addr: ctx.conn.clientAddr.address, app: name, session_id: session.id, reason: 'logged out of the app' });
    }
    sendPage(
      ctx,
      200,
      page(`Signed out of ${name}`, html`<h1>Signed out of ${name}</h1><p>Your session for this app has ended.</p><p><a href="${this.deps.catalog.proxyUrl}/web">Back to your applications</a></p>`),
      { 'set-cookie': `${APP_SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0` },
    );
  }
}

/**
 * A path on the app's own domain to land on after sign-in: it must start with one `/` (never `//`,
 * a backslash or a control character, which browsers drop or read so that `/\t/evil.example`
 * becomes another host), else the app's root. Keeps the launch
 * flow from being an open redirect.
 */
export function appPath(path: string | null | undefined): string {
  return path && path.startsWith('/') && !path.startsWith('//') && !/[\\\x00-\x1f]/.test(path) ? path : '/';
}

function hostOf(req: WebRequest | IncomingMessage): string | undefined {
  return req.headers.host ?? (req.headers as Record<string, string | undefined>)[':authority'];
}

function sendPage(ctx: WebContext, status: number, body: string, headers: Record<string, string | string[]> = {}): void {
  if (!ctx.res.headersSent) sendHtml(ctx.res, status, body, headers);
}

export function deniedPage(user: string, app: string, reasons: readonly string[], proxyUrl: string): string {
  return page(
    `Access to ${app} denied`,
    html`<h1>You may not open ${app}</h1><p class="error">${user} is not allowed to reach app "${app}".</p><p>Why:</p><ul>${reasons.map((r) => html`<li>${r}</li>`)}</ul><p>Ask an administrator for a role that allows this app (they can check with <code>postern ctl access check --user ${user} --kind app --name ${app}</code>).</p><p><a href="${proxyUrl}/web">Back to your applications</a></p>`,
  );
}

function tcpAppPage(app: string, proxyUrl: string): string {
  return page(
    `${app} is a TCP app`,
    html`<h1>${app} is a TCP app</h1><p>A browser cannot open it: it speaks its own protocol, not HTTP. Connect from your machine instead:</p><pre>postern proxy app ${app} --port PORT</pre><p>then point your client (a database client, redis-cli, …) at <code>localhost:PORT</code>.</p><p><a href="${proxyUrl}/web">Back to your applications</a></p>`,
  );
}

function errorPage(app: string, reason: string): string {
  return page(`${app} did not answer`, html`<h1>${app} did not answer</h1><p class="error">${reason}</p><p>The app's agent is connected, but could not reach the app itself. Try again; if it persists, ask the people who run ${app}.</p>`);
}
