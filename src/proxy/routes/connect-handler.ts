import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Access } from '../../access/access.js';
import { isPosternError, PosternError, toPosternError } from '../../errors/postern-error.js';
import type { Logger } from '../../log/logger.js';
import { formatHostPort } from '../../net/addr.js';
import { dialTcp } from '../../net/dial.js';
import type { TunnelRegistry } from '../../tunnel/registry.js';
import type { ConnectRequest } from '../web/connect-request.js';
import type { Principal, WebAuthenticator } from '../web/principal.js';
import type { Route, RouteTable } from './route-table.js';

export interface ConnectDeps {
  routes: RouteTable;
  authn: WebAuthenticator;
  access: Access;
  tunnels: TunnelRegistry;
  log: Logger;
  /** The web UI's sign-in page, where a browser without identity is sent. */
  loginUrl: string;
}

/**
 * TCP routes over HTTP CONNECT on the web port (seed 003): the authority (host and port) picks a
 * route; the caller's identity (certificate or bearer token; none is possible) goes through the
 * access pipeline with the route's labels and inline policy (no identity where one could help:
 * 401, or a redirect to sign in for a client that accepts HTML); then bytes flow to the target
 * for as long as access holds. Each tunnel (or refusal) is one access log line.
 */
export class ConnectHandler {
  constructor(private readonly deps: ConnectDeps) {}

  handle(req: ConnectRequest): void {
    void this.serve(req).catch((err: unknown) => {
      const e = toPosternError(err);
      if (e.code === 'INTERNAL') this.deps.log.error('CONNECT failed', { err, request_id: req.requestId });
      req.refuse(e);
    });
  }

  private async serve(req: ConnectRequest): Promise<void> {
    const { deps } = this;
    const clientAddr = req.conn.clientAddr.address;
    // The connection's logger carries conn and peer; the client address is always written out, since policies use it.
    const log = req.conn.log.child({ component: 'routes', request_id: req.requestId, host: req.authority, method: 'CONNECT', client: clientAddr });
    const route = deps.routes.match(req.authority);
    if (!route) {
      log.info('authorize', { allow: false, reasons: ['route_not_found'] });
      accessLog(log, { status: 404, details: 'route_not_found' });
      return req.refuse(notFound(req.authority, deps.routes.sameHost(req.authority)), { 'postern-error': 'route_not_found' });
    }
    let principal: Principal | undefined;
    try {
      principal = await deps.authn.identify(req.conn, req.headers);
    } catch (err) {
      // A certificate or token that is expired, revoked or locked: say which, before anything else.
      if (!isPosternError(err)) throw err;
      log.info('authorize', { allow: false, reasons: [err.message] });
      accessLog(log, { status: err.status, details: err.code.toLowerCase() });
      return req.refuse(err);
    }
    const authorization = await deps.access.authorize({
      ...(principal ? { caller: principal } : {}),
      target: { kind: 'route', name: route.authority, labels: route.labels, ...(route.policy ? { policy: route.policy } : {}) },
      clientAddr,
      log,
    });
    if (!authorization.allowed) return this.refuse(req, log, authorization.error(`may not reach ${req.authority}${principal ? '' : ', signed in or not'}`), principal);
    const user = authorization.subject?.username;
    try {
      await deps.access.serveStream(authorization, {
        dial: () => this.dial(route),
        accept: () => req.accept(),
        fields: { authority: route.authority, target: route.target.kind === 'app' ? `app ${route.target.name}` : formatHostPort(route.target.addr), request_id: req.requestId },
        onEnd: (stats) => accessLog(log, { status: 200, details: stats.revoked ? 'revoked' : 'ok', user, bytes_up: stats.bytesUp, bytes_down: stats.bytesDown, duration_ms: stats.durationMs }),
      });
    } catch (err) {
      const e = toPosternError(err);
      accessLog(log, { status: e.status, details: e.code.toLowerCase() });
      req.refuse(e);
    }
  }

  /**
   * A refusal: a request without identity that signing in could get through is sent to sign in
   * (a browser) or told 401; anything else is told 403 and why.
   */
  private refuse(req: ConnectRequest, log: Logger, err: PosternError, principal: Principal | undefined): void {
    const signIn = !principal && err.code === 'UNAUTHENTICATED';
    const redirect = signIn && acceptsHtml(req.headers);
    accessLog(log, { status: signIn ? (redirect ? 302 : 401) : err.status, details: signIn ? 'unauthenticated' : err.code.toLowerCase() });
    if (redirect) return req.redirect(this.deps.loginUrl);
    if (signIn) return req.refuse(new PosternError('UNAUTHENTICATED', `${err.message} (postern tcp signs you in through a browser, or --device on machines without one)`));
    req.refuse(err);
  }

  private dial(route: Route): Promise<Duplex> {
    if (route.target.kind === 'app') return this.deps.tunnels.dial('app', route.target.name);
    return dialTcp(route.target.addr, `the target of ${route.from}`);
  }
}

/** One line per tunnel (or refusal), in the spirit of an HTTP access log. */
function accessLog(log: Logger, fields: { status: number; details: string } & Record<string, unknown>): void {
  const { status, details, ...rest } = fields;
  log.info('access', { response_code: status, response_code_details: details, ...rest });
}

/** A browser (it asks for HTML) is better sent to sign in than told 401. */
function acceptsHtml(headers: IncomingHttpHeaders): boolean {
  return /\btext\/html\b/i.test(headers.accept ?? '');
}

function notFound(authority: string, sameHost: Route[]): PosternError {
  const hint = sameHost.length
    ? `; this host is routed on ${sameHost.map((r) => r.authority).join(', ')}: connect to that host:port (the port in a route is the one in the CONNECT request, not the proxy's)`
    : '; no route is configured for this host (proxy.routes in postern.yaml)';
  return new PosternError('ROUTE_NOT_FOUND', `route_not_found: no TCP route matches ${authority}${hint}`);
}
