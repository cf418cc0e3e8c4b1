import { Registry, collectDefaultMetrics } from 'prom-client';
import { ensureClusterState, CLUSTER_KEYS } from '../auth/cluster-state.js';
import type { PosternConfig } from '../config/schema.js';
import { DiagServer } from '../diag/diag-server.js';
import type { Logger } from '../log/logger.js';
import { formatHostPort, type HostPort } from '../net/addr.js';
import { ProxyListener } from '../proxy/listener.js';
import { ProxyMetrics } from '../proxy/metrics.js';
import { Router } from '../proxy/router.js';
import { pingRoute } from '../proxy/web/ping.js';
import { WebHandler } from '../proxy/web/web-handler.js';
import { SqliteAuditLog } from '../audit/sqlite-audit-log.js';
import { AgentEnrollment } from '../auth/agent-enrollment.js';
import { AuthService } from '../auth/auth-service.js';
import { Authorizer } from '../auth/authorizer.js';
import { RoleCache } from '../auth/roles.js';
import { TcpHandler } from '../proxy/tcp/tcp-handler.js';
import { AppAccess } from '../proxy/apps/app-access.js';
import { AppCatalog } from '../proxy/apps/app-catalog.js';
import { AppSessions } from '../proxy/apps/app-sessions.js';
import { AppForwarder } from '../proxy/apps/forwarder.js';
import { JwtSigner } from '../proxy/apps/jwt.js';
import { registerLauncher } from '../proxy/apps/launcher.js';
import { RequestLog } from '../proxy/apps/request-log.js';
import { ConnectHandler } from '../proxy/routes/connect-handler.js';
import { registerNodeRoutes } from '../proxy/ssh/node-routes.js';
import { NodeCatalog } from '../proxy/ssh/node-catalog.js';
import { SshHandler } from '../proxy/ssh/ssh-handler.js';
import { LiveGrants } from '../proxy/routes/live-grants.js';
import { RouteTable } from '../proxy/routes/route-table.js';
import { sendJson } from '../proxy/web/respond.js';
import { registerAppRoutes } from '../proxy/apps/app-routes.js';
import { registerAgentRoutes } from '../proxy/web/agent-routes.js';
import { registerCliLogin } from '../proxy/web/cli-login.js';
import { UiFiles } from '../proxy/web/ui-files.js';
import { TunnelRegistry } from '../tunnel/registry.js';
import { TunnelServer } from '../tunnel/tunnel-server.js';
import { LockWatcher } from '../auth/lock-watcher.js';
import { IdentityVerifier } from '../auth/verifier.js';
import { registerAuthRoutes } from '../proxy/web/auth-routes.js';
import { registerPages } from '../proxy/web/pages.js';
import { WebAuthenticator } from '../proxy/web/principal.js';
import { SqliteBackend, storePath } from '../storage/sqlite/sqlite-backend.js';
import type { Backend } from '../storage/backend.js';
import { VERSION } from '../version.js';
import { issueProxyTls, loadProxyTls, type ProxyTls } from './proxy-certificate.js';

export interface RunningServer {
  clusterName: string;
  publicUrl: string;
  proxyAddr: HostPort;
  diagAddr?: HostPort;
  pins: { host: string; user: string };
  tlsSource: string;
  backend: Backend;
  close(): Promise<void>;
}

/**
 * Starts auth + proxy in this process: storage, certificate authorities, the proxy's certificate,
 * the one TLS listener with its protocol handlers, and diagnostics. Everything started is stopped
 * by close(), in reverse order.
 */
export async function startServer(config: PosternConfig, log: Logger): Promise<RunningServer> {
  const cleanups: (() => Promise<void> | void)[] = [];
  let closing: Promise<void> | undefined;
  // Stops everything started, in reverse order; calling it again waits for the first call.
  const close = () =>
    (closing ??= (async () => {
      for (const fn of [...cleanups].reverse()) await fn();
    })());
  try {
    const backend = new SqliteBackend({ path: storePath(config.data_dir) });
    cleanups.push(() => backend.close());
    const cluster = await ensureClusterState(backend, config.cluster_name);
    const hostCa = cluster.authorities.host;

    const publicHost = config.proxy.public_addr.host;
    const publicUrl = `https://${formatHostPort(config.proxy.public_addr)}`;
    // `postern ctl` on this host reads it to print invite links that point at the running proxy.
    await backend.put(CLUSTER_KEYS.publicAddr, formatHostPort(config.proxy.public_addr));
    const tlsFor = async (): Promise<ProxyTls> =>
      withClientCertificates(config.proxy.certificates.length > 0 ? loadProxyTls(config.proxy.certificates) : await issueProxyTls(hostCa, publicHost), cluster);
    let tls = await tlsFor();

    const audit = new SqliteAuditLog({ path: storePath(config.data_dir) });
    cleanups.push(() => audit.close());
    const auth = new AuthService(backend, cluster, audit, { secondFactor: config.auth.second_factor, certTtlMs: config.auth.cert_ttl, publicUrl });
    const lockWatcher = new LockWatcher(auth.locks, log.child({ component: 'locks' }));
    await lockWatcher.start();
    cleanups.push(() => lockWatcher.close());
    const verifier = new IdentityVerifier(cluster, lockWatcher);
    const roleCache = new RoleCache(auth.roles, log.child({ component: 'roles' }));
    await roleCache.start();
    cleanups.push(() => roleCache.close());
    const authorizer = new Authorizer(roleCache);

    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'postern_' });
    const router = new Router();
    const tunnels = new TunnelRegistry(backend, log.child({ component: 'tunnels' }), registry);
    router.register('reversetunnel', new TunnelServer(tunnels, verifier, lockWatcher, audit));
    router.register('tcp', new TcpHandler(publicHost, { verifier, authorizer, tunnels, locks: lockWatcher, audit }));
    const nodes = new NodeCatalog(config.proxy.ssh_nodes, tunnels);
    router.register('ssh', new SshHandler({ verifier, authorizer, nodes, locks: lockWatcher, audit, cluster }));
    const web = new WebHandler(log.child({ component: 'web' }));
    web.route('GET', '/webapi/ping', pingRoute({ clusterName: cluster.clusterName, publicAddr: formatHostPort(config.proxy.public_addr), version: VERSION, protocols: () => router.served() }));
    const authn = new WebAuthenticator(auth, verifier, lockWatcher);
    registerAuthRoutes(web, auth, authn);
    registerPages(web, auth);
    const catalog = new AppCatalog(tunnels, config.proxy.public_addr);
    const appSessions = new AppSessions(backend);
    const jwt = new JwtSigner(cluster.authorities.jwt, cluster.clusterName);
    const requests = new RequestLog(audit, log.child({ component: 'apps' }));
    cleanups.push(() => requests.flushAll());
    const appAccess = new AppAccess({ catalog, sessions: appSessions, auth, authn, locks: lockWatcher, authorizer, forwarder: new AppForwarder(tunnels), jwt, requests, log: log.child({ component: 'apps' }) });
    web.hostRoute((req, conn) => appAccess.appFor(req, conn) !== undefined, (ctx) => appAccess.handle(ctx));
    web.onUpgrade((req, socket, head, conn) =>
      void appAccess.upgrade(req, socket, head, conn).catch((err: unknown) => {
        conn.log.info('refused a WebSocket upgrade', { err });
        socket.destroy();
      }),
    );
    web.route('GET', '/.well-known/jwks.json', ({ res }) => sendJson(res, 200, jwt.jwks()));
    registerAppRoutes(web, { catalog, authn, authorizer, auth, verifier });
    const grants = new LiveGrants(log.child({ component: 'routes' }));
    cleanups.push(() => grants.stop());
    const connect = new ConnectHandler({ routes: new RouteTable(config.proxy.routes), authn, authorizer, tunnels, grants, audit, log: log.child({ component: 'routes' }), loginUrl: `${publicUrl}/web/login` });
    web.onConnect((req) => connect.handle(req));
    registerCliLogin(web, auth, authn);
    registerNodeRoutes(web, { nodes, authn, authorizer });
    registerLauncher(web, { catalog, sessions: appSessions, auth, authn, authorizer });
    const ui = new UiFiles();
    web.route('GET', '/web', (ctx) => ui.serve(ctx));
    web.route('GET', '/web/*', (ctx) => ui.serve(ctx));
    registerAgentRoutes(web, auth, new AgentEnrollment(auth, config.auth.tokens, config.auth.host_cert_ttl), verifier);
    router.register('web', web);
    cleanups.push(() => web.close());

    const listener = new ProxyListener({
      router,
      tls: tls.options,
      useProxyProtocol: config.proxy.use_proxy_protocol,
      handshakeTimeoutMs: config.proxy.handshake_timeout,
      maxConnections: config.proxy.max_connections,
      publicUrl,
      log: log.child({ component: 'proxy' }),
      metrics: new ProxyMetrics(registry),
    });
    const proxyAddr = await listener.listen(config.proxy.listen_addr);
    cleanups.push(async () => {
      // Stop accepting first, or agents told to go would reconnect to this dying proxy at once;
      // then close the tunnels (their records are deleted while storage is open), then wait out the rest.
      const closed = listener.close(2000);
      await tunnels.closeAll('the proxy is shutting down');
      await closed;
    });
    cleanups.push(
      keepRenewed(tls, tlsFor, listener, log.child({ component: 'proxy' }), (fresh) => {
        tls = fresh;
      }),
    );

    let diagAddr: HostPort | undefined;
    if (config.diag_addr) {
      const diag = new DiagServer(
        registry,
        {
          storage: async () => ((await backend.get(CLUSTER_KEYS.name)) ? undefined : 'the cluster record is missing from storage'),
          authorities: () => expiryProblem({ 'host CA': cluster.authorities.host.cert.notAfter, 'user CA': cluster.authorities.user.cert.notAfter, 'proxy certificate': tls.notAfter }),
          listener: () => (listener.listening ? undefined : 'the proxy listener is not listening'),
        },
        log.child({ component: 'diag' }),
      );
      diagAddr = await diag.listen(config.diag_addr);
      cleanups.push(() => diag.close());
    }

    return {
      clusterName: cluster.clusterName,
      publicUrl,
      proxyAddr,
      ...(diagAddr ? { diagAddr } : {}),
      pins: { host: hostCa.pin, user: cluster.authorities.user.pin },
      tlsSource: tls.source,
      backend,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Re-issues the proxy certificate before it expires, for new connections (open ones keep theirs).
 * Returns the function that stops it.
 */
function keepRenewed(first: ProxyTls, next: () => Promise<ProxyTls>, listener: ProxyListener, log: Logger, onRenewed: (tls: ProxyTls) => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const plan = (at: Date) => {
    timer = setTimeout(() => {
      next()
        .then((fresh) => {
          listener.setSecureContext(fresh.options);
          onRenewed(fresh);
          log.info('renewed the proxy certificate', { next_renewal: fresh.renewAt?.toISOString() });
          if (fresh.renewAt) plan(fresh.renewAt);
        })
        .catch((err: unknown) => {
          log.error('renewing the proxy certificate failed; retrying in a minute', { err });
          plan(new Date(Date.now() + 60_000));
        });
    }, Math.max(0, at.getTime() - Date.now()));
    timer.unref();
  };
  if (first.renewAt) plan(first.renewAt);
  return () => clearTimeout(timer);
}

/**
 * Every connection may present a client certificate (optional at the TLS layer: browsers and
 * `curl` without one still get the web UI). The handlers decide what they need, through the one
 * IdentityVerifier, which also checks which CA signed it.
 */
function withClientCertificates(tls: ProxyTls, cluster: { authorities: { user: { certPem: string }; host: { certPem: string } } }): ProxyTls {
  return { ...tls, options: { ...tls.options, requestCert: true, rejectUnauthorized: false, ca: [cluster.authorities.user.certPem, cluster.authorities.host.certPem] } };
}

/** Readiness problem for certificates that have expired (or undefined when all are valid). */
function expiryProblem(notAfter: Record<string, Date>): string | undefined {
  const now = Date.now();
  const expired = Object.entries(notAfter).filter(([, date]) => date.getTime() <= now);
  return expired.length ? expired.map(([name, date]) => `the ${name} expired at ${date.toISOString()}`).join('; ') : undefined;
}
