import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AuditLog } from '../../audit/audit-log.js';
import type { Authorizer } from '../../auth/authorizer.js';
import { isPosternError, PosternError, toPosternError } from '../../errors/postern-error.js';
import type { Logger } from '../../log/logger.js';
import { formatHostPort } from '../../net/addr.js';
import { dialTcp } from '../../net/dial.js';
import type { Decision } from '../../policy/access-checker.js';
import { evaluateRoutePolicy, signingInCouldAllow } from '../../policy/route-policy/index.js';
import type { TunnelRegistry } from '../../tunnel/registry.js';
import { abortStream, joinStreams } from '../../net/pipe.js';
import type { ConnectRequest } from '../web/connect-request.js';
import type { Principal, WebAuthenticator } from '../web/principal.js';
import type { LiveGrants } from './live-grants.js';
import type { Route, RouteTable } from './route-table.js';

export interface ConnectDeps {
  routes: RouteTable;
  authn: WebAuthenticator;
  authorizer: Authorizer;
  tunnels: TunnelRegistry;
  grants: LiveGrants;
  audit: AuditLog;
  log: Logger;
  /** The web UI's sign-in page, where a browser without identity is sent. */
  loginUrl: string;
}

/**
 * TCP routes over HTTP CONNECT on the web port (seed 003): the authority (host and port) picks a
 * route; the caller's identity (certificate or bearer token; none is possible) is checked against
 * the route's inline policy, or roles' route_labels when it has none (no identity: 401, or a
 * redirect to sign in for a client that accepts HTML); then bytes flow to the
 * target. Each decision is one authorize log line, each tunnel one access log line when it ends,
 * and an open tunnel stays open only while its grant holds (see LiveGrants).
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
      this.accessLog(log, { status: 404, details: 'route_not_found' });
      return req.refuse(notFound(req.authority, deps.routes.sameHost(req.authority)), { 'postern-error': 'route_not_found' });
    }
    let principal: Principal | undefined;
    try {
      principal = await deps.authn.identify(req.conn, req.headers);
    } catch (err) {
      // A certificate or token that is expired, revoked or locked: say which, before anything else.
      if (!isPosternError(err)) throw err;
      log.info('authorize', { allow: false, reasons: [err.message] });
      this.accessLog(log, { status: err.status, details: err.code.toLowerCase() });
      return req.refuse(err);
    }
    const decision = this.decide(route, principal, clientAddr);
    log.info('authorize', { user: principal?.username, email: principal?.traits.email?.[0], allow: decision.allow, reasons: decision.reasons });
    if (!decision.allow) {
      // Without identity, sign-in is the answer only where it could help: not where the client's
      // address (or a reject) already rules the route out for everyone.
      const signIn = !principal && (!route.policy || signingInCouldAllow(route.policy, { sourceIp: clientAddr }));
      const redirect = signIn && acceptsHtml(req.headers);
      this.accessLog(log, { status: signIn ? (redirect ? 302 : 401) : 403, details: signIn ? 'unauthenticated' : 'denied' });
      if (redirect) return req.redirect(deps.loginUrl);
      if (signIn) return req.refuse(new PosternError('UNAUTHENTICATED', `sign in to reach ${req.authority}: ${decision.reasons.join('; ')} (postern tcp signs you in through a browser, or --device on machines without one)`));
      // Refusals of anonymous clients are in the authorize and access log lines; anyone can make them, so they stay out of the audit log.
      if (principal) await deps.audit.emit({ event: 'access.denied', user: principal.username, remote_addr: clientAddr, kind: 'route', resource: route.authority, reasons: decision.reasons });
      const refused = principal ? `${principal.username} may not reach ${req.authority}` : `this client may not reach ${req.authority}, signed in or not`;
      return req.refuse(new PosternError('ACCESS_DENIED', `${refused}: ${decision.reasons.join('; ')}`));
    }
    let target: Duplex;
    try {
      target = await this.dial(route);
    } catch (err) {
      const e = toPosternError(err);
      this.accessLog(log, { status: e.status, details: e.code.toLowerCase() });
      return req.refuse(e);
    }
    this.relay(req, route, principal, target, log);
  }

  /** The inline policy when the route has one; otherwise the roles' route_labels (which need a signed-in user). */
  private decide(route: Route, principal: Principal | undefined, sourceIp: string): Decision {
    if (route.policy) return evaluateRoutePolicy(route.policy, { ...(principal ? { user: principal } : {}), sourceIp });
    if (!principal) return { allow: false, reasons: [`route ${route.authority} is decided by roles, and the request carries no identity`] };
    return this.deps.authorizer.checker(principal).checkResource({ kind: 'route', name: route.authority, labels: route.labels });
  }

  private dial(route: Route): Promise<Duplex> {
    if (route.target.kind === 'app') return this.deps.tunnels.dial('app', route.target.name);
    return dialTcp(route.target.addr, `the target of ${route.from}`);
  }

  private relay(req: ConnectRequest, route: Route, principal: Principal | undefined, target: Duplex, log: Logger): void {
    const { deps } = this;
    const started = performance.now();
    const client = req.accept();
    let bytesUp = 0;
    let bytesDown = 0;
    client.on('data', (d: Buffer) => (bytesUp += d.length));
    target.on('data', (d: Buffer) => (bytesDown += d.length));
    const user = principal?.username;
    const auditBase = { user, remote_addr: req.conn.clientAddr.address, authority: route.authority, target: route.target.kind === 'app' ? `app ${route.target.name}` : formatHostPort(route.target.addr) };
    void deps.audit.emit({ event: 'route.tunnel.start', ...auditBase, via: principal?.via ?? 'none', request_id: req.requestId });
    let revoked: string | undefined;
    const release = deps.grants.add({
      recheck: async () => {
        const now = principal ? await deps.authn.current(principal) : { principal };
        if ('reason' in now) return now.reason;
        return this.decide(route, now.principal, req.conn.clientAddr.address).allow ? undefined : 'its route no longer allows it';
      },
      close: (reason) => {
        revoked = reason;
        log.info('closing a tunnel: its grant was revoked', { user, reason });
        abortStream(client);
      },
    });
    joinStreams(client, target, () => {
      release();
      const durationMs = Math.round(performance.now() - started);
      this.accessLog(log, { status: 200, details: revoked ? 'revoked' : 'ok', user, bytes_up: bytesUp, bytes_down: bytesDown, duration_ms: durationMs });
      void deps.audit.emit({ event: 'route.tunnel.end', ...auditBase, bytes_up: bytesUp, bytes_down: bytesDown, duration_ms: durationMs, reason: revoked ? `revoked: ${revoked}` : 'ended' });
    });
  }

  /** One line per tunnel (or refusal), in the spirit of an HTTP access log. */
  private accessLog(log: Logger, fields: { status: number; details: string } & Record<string, unknown>): void {
    const { status, details, ...rest } = fields;
    log.info('access', { response_code: status, response_code_details: details, ...rest });
  }
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
