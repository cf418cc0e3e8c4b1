import type { Registry } from 'prom-client';
import { AgentEnrollment } from '../auth/agent-enrollment.js';
import type { PosternConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { formatHostPort } from '../net/addr.js';
import { AppAccess } from '../proxy/apps/app-access.js';
import { registerAppRoutes } from '../proxy/apps/app-routes.js';
import { AppCatalog } from '../proxy/apps/app-catalog.js';
import { AppForwarder } from '../proxy/apps/forwarder.js';
import { JwtSigner } from '../proxy/apps/jwt.js';
import { registerLauncher } from '../proxy/apps/launcher.js';
import { RequestLog } from '../proxy/apps/request-log.js';
import type { ProtocolHandler } from '../proxy/router.js';
import { ConnectHandler } from '../proxy/routes/connect-handler.js';
import { registerRouteList } from '../proxy/routes/route-list.js';
import { RouteTable } from '../proxy/routes/route-table.js';
import { NodeCatalog } from '../proxy/ssh/node-catalog.js';
import { registerNodeRoutes } from '../proxy/ssh/node-routes.js';
import { registerDbRoutes } from '../proxy/db/db-routes.js';
import { MysqlHandler } from '../proxy/db/mysql-handler.js';
import { PostgresHandler } from '../proxy/db/postgres-handler.js';
import { SshHandler } from '../proxy/ssh/ssh-handler.js';
import { WebTerminal } from '../proxy/ssh/web-terminal.js';
import { TcpHandler } from '../proxy/tcp/tcp-handler.js';
import { registerAgentRoutes } from '../proxy/web/agent-routes.js';
import { registerAuthRoutes } from '../proxy/web/auth-routes.js';
import { registerCliLogin } from '../proxy/web/cli-login.js';
import { registerConsoleRoutes } from '../proxy/web/console-routes.js';
import { registerPages } from '../proxy/web/pages.js';
import { pingRoute } from '../proxy/web/ping.js';
import { WebAuthenticator } from '../proxy/web/principal.js';
import { sendJson } from '../proxy/web/respond.js';
import { UiFiles } from '../proxy/web/ui-files.js';
import { WebHandler } from '../proxy/web/web-handler.js';
import { TunnelRegistry } from '../tunnel/registry.js';
import { TunnelServer } from '../proxy/reversetunnel/tunnel-server.js';
import type { ProtocolId } from '../wire/protocols.js';
import { VERSION } from '../version.js';
import type { Cleanups } from './cleanups.js';
import type { Core } from './core.js';

/** The handler of each protocol in the table that this version serves; the others are refused by the router. */
export type Handlers = Partial<Record<ProtocolId, ProtocolHandler>>;

/**
 * Builds every protocol handler on the core: agents' reverse tunnels, SSH, TCP apps, and the web
 * (API, UI, apps on their subdomains, CONNECT routes). Each handler parses its own opening bytes
 * and hands the rest to the core's access pipeline.
 */
export function buildHandlers(core: Core, config: PosternConfig, deps: { metrics: Registry; served: () => string[]; log: Logger }, cleanups: Cleanups): { handlers: Handlers; tunnels: TunnelRegistry; catalog: AppCatalog } {
  const { auth, access, verifier, cluster, audit, publicUrl } = core;
  const { log } = deps;
  const tunnels = new TunnelRegistry(core.backend, core.proxies, log.child({ component: 'tunnels' }), deps.metrics);
  access.watch((changed) => tunnels.onChange(changed)); // an announcement with other labels re-decides open sessions
  const nodes = new NodeCatalog(config.proxy.ssh_nodes, tunnels);

  const web = new WebHandler(log.child({ component: 'web' }), { unauthenticatedIdleMs: config.proxy.unauthenticated_idle_timeout });
  cleanups.add(() => web.close());
  web.route('GET', '/webapi/ping', pingRoute({ clusterName: cluster.clusterName, publicAddr: formatHostPort(config.proxy.public_addr), version: VERSION, protocols: deps.served }));
  const authn = new WebAuthenticator(auth, verifier, access);
  registerAuthRoutes(web, auth, authn, access);
  registerConsoleRoutes(web, auth, authn, access);
  registerPages(web, auth);
  registerCliLogin(web, auth, authn);
  registerAgentRoutes(web, auth, new AgentEnrollment(auth, config.auth.tokens, config.auth.host_cert_ttl), verifier, access);
  registerNodeRoutes(web, { nodes, authn, access });
  registerDbRoutes(web, { tunnels, authn, access });

  const catalog = new AppCatalog(tunnels, config.proxy.public_addr);
  const jwt = new JwtSigner(cluster.authorities.jwt, cluster.clusterName);
  const requests = new RequestLog(audit, log.child({ component: 'apps' }));
  cleanups.add(() => requests.flushAll());
  const apps = new AppAccess({ catalog, sessions: auth.appSessions, auth, authn, access, forwarder: new AppForwarder(tunnels), jwt, requests, log: log.child({ component: 'apps' }) });
  web.hostRoute((req, conn) => apps.appFor(req, conn) !== undefined, (ctx) => apps.handle(ctx));
  const terminal = new WebTerminal({ authn, access, nodes, cluster, hostKeys: auth.sshHostKeys });
  web.onUpgrade((req, socket, head, conn) =>
    void (apps.appFor(req, conn) === undefined && terminal.claims(req) ? terminal.upgrade(req, socket, head, conn) : apps.upgrade(req, socket, head, conn)).catch((err: unknown) => {
      conn.log.info('refused a WebSocket upgrade', { err });
      socket.destroy();
    }),
  );
  web.route('GET', '/.well-known/jwks.json', ({ res }) => sendJson(res, 200, jwt.jwks()));
  registerAppRoutes(web, { catalog, authn, access, auth, verifier });
  registerLauncher(web, { catalog, sessions: auth.appSessions, authn, access });

  const routes = new RouteTable(config.proxy.routes);
  registerRouteList(web, { routes, authn, access });
  const connect = new ConnectHandler({ routes, authn, access, tunnels, log: log.child({ component: 'routes' }), loginUrl: `${publicUrl}/web/login` });
  web.onConnect((req) => connect.handle(req));
  const ui = new UiFiles();
  web.route('GET', '/web', (ctx) => ui.serve(ctx));
  web.route('GET', '/web/*', (ctx) => ui.serve(ctx));

  const handlers: Handlers = {
    reversetunnel: new TunnelServer(tunnels, verifier, access, audit),
    ssh: new SshHandler({ verifier, access, nodes, cluster }),
    tcp: new TcpHandler(config.proxy.public_addr.host, { verifier, access, tunnels }),
    postgres: new PostgresHandler({ verifier, access, tunnels, cluster, audit, auditQueries: config.proxy.db_query_audit }),
    mysql: new MysqlHandler({ verifier, access, tunnels, cluster, audit, auditQueries: config.proxy.db_query_audit }),
    web,
  };
  return { handlers, tunnels, catalog };
}
