import { randomBytes, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Authorization, type Access } from '../../access/access.js';
import type { Caller } from '../../access/caller.js';
import { APP_SESSION_COOKIE, APP_STATE_COOKIE, type AppSessions } from '../../auth/app-sessions.js';
import type { AuthService } from '../../auth/auth-service.js';
import { tokenHash } from '../../auth/secret-token.js';
import { isPosternError, PosternError, toPosternError } from '../../errors/postern-error.js';
import type { Logger } from '../../log/logger.js';
import { expandTemplates, type Subject } from '../../policy/traits.js';
import { announcementKey } from '../../resources/table.js';
import type { RoutedConnection } from '../router.js';
import { cookie } from '../web/body.js';
import { html, page } from '../web/html.js';
import { redirect, sendHtml, sendJson, wantsHtml } from '../web/respond.js';
import type { WebAuthenticator } from '../web/principal.js';
import type { WebRequest, WebResponse } from '../web/http.js';
import type { WebContext } from '../web/web-handler.js';
import { offlinePage, type App, type AppCatalog } from './app-catalog.js';
import type { AppForwarder } from './forwarder.js';
import type { JwtSigner } from './jwt.js';
import type { RequestLog } from './request-log.js';

/** Who is behind a request to an app, and how they proved it. */
interface AppCaller extends Caller {
  via: 'app-session' | 'certificate';
  /** Stable per session or certificate: the key of the cached assertion and of the held grant. */
  key: string;
  /** For app sessions: the non-secret id and the cookie (for logout). */
  session?: { id: string; secret: string };
}

/** App session cookies are read from storage again (session alive, the user's roles) this often. */
const IDENTITY_TTL_MS = 2_000;
/** Grants held for callers and apps; beyond this many, all are let go and decided afresh. */
const MAX_GRANTS = 10_000;
const STATE_TTL_S = 300;
export const AUTH_CALLBACK = '/postern-auth/callback';
export const APP_LOGOUT = '/postern-logout';

export interface AppAccessDeps {
  catalog: AppCatalog;
  sessions: AppSessions;
  auth: AuthService;
  authn: WebAuthenticator;
  access: Access;
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
  private readonly identities = new Map<string, { identity: AppCaller; until: number }>();
  /**
   * Allowed decisions, one per caller and app, held as live grants: a request that finds one
   * goes through without deciding again, and any change that takes the access away (a lock, a
   * role, the user, the session) revokes it, so the next request is decided (and refused) anew.
   */
  private readonly grants = new Map<string, HeldGrant>();
  /** Decisions being made, so that a browser's first requests, sent together, share one. */
  private readonly deciding = new Map<string, Promise<Authorization>>();

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
    let identity: AppCaller | undefined;
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
    const authorization = await this.authorize(identity, app, ctx.conn, ctx.log);
    if (!authorization.allowed) return this.refused(ctx, name, identity, authorization);
    // HTTP to a TCP service would reach it as garbage: say how to connect instead.
    if (app.type === 'tcp') return sendPage(ctx, 400, tcpAppPage(name, this.deps.catalog.proxyUrl));
    // A response still streaming (server-sent events, a long download) ends with the access it was granted on.
    const inFlight = this.grants.get(grantKey(identity, app))?.responses;
    inFlight?.add(ctx.res);
    ctx.res.once('close', () => inFlight?.delete(ctx.res));
    await this.forward(ctx, app, identity, authorization.subject!);
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
    const app = found.app;
    const authorization = await this.authorize(identity, app, conn, conn.log);
    if (!authorization.allowed) return refuse(403, authorization.error().message);
    if (app.type === 'tcp') return refuse(400, `${found.name} is a TCP app: connect with postern proxy app ${found.name} --port PORT`);
    const forward = { app, clientAddr: conn.clientAddr.address, publicHost: app.publicAddr, identityHeaders: await this.identityHeaders(identity.key, authorization.subject!, app) };
    await this.deps.access.serveStream(authorization, { dial: () => this.deps.forwarder.openUpgrade(req, head, forward), accept: () => socket, fields: { app: app.name } });
  }

  /**
   * A refusal, as the browser should see it: a session that has ended goes back through sign-in,
   * a role that does not allow the app gets the page that says which and what to ask for, and a
   * lock or an expired certificate the error itself.
   */
  private refused(ctx: WebContext, name: string, identity: AppCaller, authorization: Authorization): void {
    const code = authorization.decision.code;
    if (code === 'UNAUTHENTICATED' && identity.session) {
      this.identities.delete(identity.session.secret);
      return this.startLaunch(ctx, name);
    }
    if (code === 'ACCESS_DENIED' || code === 'MFA_REQUIRED') return sendPage(ctx, 403, deniedPage(authorization.who, name, authorization.decision.reasons, this.deps.catalog.proxyUrl));
    throw authorization.error();
  }

  /**
   * The caller's held grant for the app (with the caller as it stands now: the assertion carries
   * the user's current roles), or a fresh decision, logged and audited, that is held when it
   * allows. Either way, returned with this request's own client address and logger.
   */
  private async authorize(identity: AppCaller, app: App, conn: RoutedConnection, log: Logger): Promise<Authorization> {
    const key = grantKey(identity, app);
    const here = (a: Authorization, subject = a.subject) => new Authorization({ ...a.input, caller: identity, clientAddr: conn.clientAddr.address, log }, a.decision, subject, a.generation);
    const held = this.grants.get(key);
    if (held) {
      const standing = await this.deps.access.standing(identity);
      if (standing.ok) return here(held.authorization, standing.subject);
      this.letGo(key); // decided afresh below: refused, logged and audited
    }
    let deciding = this.deciding.get(key);
    if (!deciding) {
      deciding = this.decide(key, identity, app, conn, log).finally(() => this.deciding.delete(key));
      this.deciding.set(key, deciding);
    }
    return here(await deciding);
  }

  /** Decides (logged and audited) and, when allowed, holds the decision as a live grant under `key`. */
  private async decide(key: string, identity: AppCaller, app: App, conn: RoutedConnection, log: Logger): Promise<Authorization> {
    const target = { kind: 'app' as const, name: app.name, labels: app.labels };
    const current = () => {
      const now = this.deps.catalog.get(app.name);
      return now && { ...target, labels: now.labels };
    };
    const authorization = await this.deps.access.authorize({ caller: identity, target, current, clientAddr: conn.clientAddr.address, log });
    if (!authorization.allowed) return authorization;
    if (this.grants.size >= MAX_GRANTS) for (const old of [...this.grants.keys()]) this.letGo(old);
    const entry: HeldGrant = { authorization, release: () => {}, responses: new Set() };
    entry.release = this.deps.access.hold(
      {
        caller: identity,
        target,
        current,
        clientAddr: conn.clientAddr.address,
        revoke: () => {
          if (this.grants.get(key) === entry) this.grants.delete(key);
          for (const res of entry.responses) res.destroy();
        },
      },
      authorization.generation,
    );
    this.letGo(key);
    this.grants.set(key, entry);
    return authorization;
  }

  private letGo(key: string): void {
    this.grants.get(key)?.release();
    this.grants.delete(key);
  }

  private async forward(ctx: WebContext, app: App, identity: AppCaller, subject: Subject): Promise<void> {
    const headers = await this.identityHeaders(identity.key, subject, app);
    this.deps.forwarder.forward(ctx.req, ctx.res, { app, clientAddr: ctx.conn.clientAddr.address, publicHost: app.publicAddr, identityHeaders: headers }, (err, stats) => {
      if (err) {
        const e = toPosternError(err);
        ctx.log.info('forwarding to an app failed', { app: app.name, reason: e.message });
        sendPage(ctx, e.code === 'AGENT_OFFLINE' ? 503 : 502, e.code === 'AGENT_OFFLINE' ? offlinePage(app.name, this.deps.catalog.proxyUrl) : errorPage(app.name, e.message, this.deps.catalog.proxyUrl));
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
  private async identityHeaders(key: string, subject: Subject, app: App): Promise<Record<string, string>> {
    const headers: Record<string, string> = { 'postern-jwt-assertion': await this.deps.jwt.assertion(`${key}:${app.name}`, subject, app.uri) };
    for (const line of app.rewriteHeaders) {
      const i = line.indexOf(':');
      const values = expandTemplates([line.slice(i + 1).trim()], subject);
      if (values.length) headers[line.slice(0, i).trim()] = values.join(', ');
    }
    return headers;
  }

  /** A certificate for this app (`postern apps login`), or an app session cookie; undefined when neither. */
  private async identify(req: WebRequest, conn: RoutedConnection, appName: string): Promise<AppCaller | undefined> {
    const cert = this.deps.authn.certificatePrincipal(conn);
    if (cert) return { ...cert, via: 'certificate', key: `cert:${cert.fingerprint}` };
    const secret = cookie(req.headers, APP_SESSION_COOKIE);
    if (!secret) return undefined;
    const cached = this.identities.get(secret);
    const identity = cached && cached.until > Date.now() ? cached.identity : await this.loadSession(secret, appName);
    if (identity) conn.authenticate(); // no longer an anonymous connection to the listener's limits
    return identity;
  }

  /**
   * An app session is good while its web session lives and its user exists (the access layer's
   * standing checks both for every decision); one whose web session or user is gone is ended here.
   */
  private async loadSession(secret: string, appName: string): Promise<AppCaller | undefined> {
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
    const identity: AppCaller = {
      kind: 'user',
      username: user.name,
      roles: user.roles,
      traits: user.traits,
      via: 'app-session',
      expires: new Date(session.expires),
      sessions: [
        { kind: 'web', hash: session.web_session },
        { kind: 'app', hash: tokenHash(secret) },
      ],
      key: `session:${session.id}`,
      session: { id: session.id, secret },
    };
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
      sendPage(ctx, 400, page('Sign-in link not valid', html`<h1>This sign-in link cannot be used</h1><p class="error">It was started in another browser, has expired, or was used already.</p><p><a href="/">Open ${name} again</a> to sign in.</p>`, `${this.deps.catalog.proxyUrl}/web`));
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
      page(`Signed out of ${name}`, html`<h1>Signed out of ${name}</h1><p>Your session for this app has ended.</p><p><a href="${this.deps.catalog.proxyUrl}/web">Back to your applications</a></p>`, `${this.deps.catalog.proxyUrl}/web`),
      { 'set-cookie': `${APP_SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0` },
    );
  }
}

/** An allowed decision for one caller and app, held live, and the responses in flight on it. */
interface HeldGrant {
  authorization: Authorization;
  release: () => void;
  responses: Set<WebResponse>;
}

/** Held decisions are per caller, app, and what the app's agent announced (its labels decide). */
function grantKey(identity: AppCaller, app: App): string {
  return `${identity.key}\0${app.name}\0${announcementKey(app.announced)}`;
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
    `${proxyUrl}/web`,
  );
}

function tcpAppPage(app: string, proxyUrl: string): string {
  return page(
    `${app} is a TCP app`,
    html`<h1>${app} is a TCP app</h1><p>A browser cannot open it: it speaks its own protocol, not HTTP. Connect from your machine instead:</p><pre>postern proxy app ${app} --port PORT</pre><p>then point your client (a database client, redis-cli, …) at <code>localhost:PORT</code>.</p><p><a href="${proxyUrl}/web">Back to your applications</a></p>`,
    `${proxyUrl}/web`,
  );
}

function errorPage(app: string, reason: string, proxyUrl: string): string {
  return page(`${app} did not answer`, html`<h1>${app} did not answer</h1><p class="error">${reason}</p><p>The app's agent is connected, but could not reach the app itself. Try again; if it persists, ask the people who run ${app}.</p>`, `${proxyUrl}/web`);
}
