import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { callApi, type ProxyEndpoint } from '../client/api-client.js';
import { connectRoute } from '../client/connect-tunnel.js';
import { startLocalProxy } from '../client/local-proxy.js';
import { mustParse } from '../client/profile-store.js';
import { PosternError, toPosternError } from '../errors/postern-error.js';
import type { Logger } from '../log/logger.js';
import { formatHostPort, type HostPort } from '../net/addr.js';
import { listenLocally } from '../net/listen.js';
import { joinStreams } from '../net/pipe.js';
import type { AppList, DbList } from '../wire/api.js';
import type { ConnectGateway, GatewaySpec } from '../wire/connect.js';
import { whyUnreachable, type EndpointOf } from './reachability.js';
import type { Workspace } from './workspace.js';

/** How often the gateways' targets are looked at (their listing on the cluster). */
const CHECK_EVERY_MS = 3000;
/** What a person changes when a gateway's port is taken. */
const PORT_FIELD = 'the port field and Retry';

interface Running {
  gateway: ConnectGateway;
  close?: () => Promise<void>;
}

/**
 * Connect's gateways: local proxies on loopback ports to databases, TCP apps and TCP routes, each
 * what `postern proxy db --tunnel`, `postern proxy app` or `postern tcp --listen` would run. They
 * take the profile's certificate at each connection, so a new login is used at once (a gateway
 * outlives an expired certificate: its connections fail saying so until the person logs in
 * again). The list is kept in the workspace with the ports they got, and started again on those
 * ports at the next start; one that cannot listen shows why.
 */
export class Gateways {
  private readonly running = new Map<string, Running>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly workspace: Workspace,
    private readonly endpointOf: EndpointOf,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => void this.check(), CHECK_EVERY_MS);
    this.timer.unref();
  }

  /**
   * Looks, for each cluster with gateways, whether their targets are still there for this person
   * (whyUnreachable), and says why not on each gateway (`problem`), clearing it once that has passed.
   */
  async check(): Promise<void> {
    const byCluster = new Map<string, ConnectGateway[]>();
    for (const { gateway: g } of this.running.values()) if (g.status === 'listening') byCluster.set(g.cluster, [...(byCluster.get(g.cluster) ?? []), g]);
    for (const [cluster, gateways] of byCluster) {
      const targets = new Map(gateways.map((g) => [g, { kind: g.kind, name: g.target }] as const));
      const reasons = await whyUnreachable(this.endpointOf, cluster, [...targets.values()]);
      for (const g of gateways) {
        const reason = typeof reasons === 'string' ? reasons : reasons.get(targets.get(g)!);
        if (reason) g.problem = `${reason}. The gateway keeps listening and works again when that has passed.`;
        else delete g.problem;
      }
    }
  }

  list(): ConnectGateway[] {
    return [...this.running.values()].map((r) => r.gateway);
  }

  /** Starts the gateways of the last run, on their ports. */
  async restore(saved: GatewaySpec[]): Promise<void> {
    for (const spec of saved.filter(valid)) await this.start(spec, randomId());
  }

  async create(spec: GatewaySpec): Promise<ConnectGateway> {
    const gateway = await this.start(check(spec), randomId());
    this.save();
    if (gateway.status === 'failed') throw new PosternError('USAGE', gateway.error ?? 'the gateway could not start');
    return gateway;
  }

  /** Starts it again (after a failure), on `port` when given. */
  async retry(id: string, port?: number): Promise<ConnectGateway> {
    const was = this.find(id);
    await was.close?.();
    const gateway = await this.start({ ...specOf(was.gateway), ...(port !== undefined ? { port } : {}) }, id);
    this.save();
    return gateway;
  }

  async remove(id: string): Promise<void> {
    const was = this.find(id);
    await was.close?.();
    this.running.delete(id);
    this.save();
  }

  async closeAll(): Promise<void> {
    clearInterval(this.timer);
    for (const r of this.running.values()) await r.close?.();
  }

  private find(id: string): Running {
    const found = this.running.get(id);
    if (!found) throw new PosternError('NOT_FOUND', `there is no gateway ${id}`);
    return found;
  }

  private async start(spec: GatewaySpec, id: string): Promise<ConnectGateway> {
    const gateway: ConnectGateway = { ...spec, id, status: 'failed' };
    const entry: Running = { gateway };
    this.running.set(id, entry);
    const onError = (err: Error) => {
      gateway.error = `a connection failed: ${err.message}`;
      this.log.info('a gateway connection failed', { gateway: id, target: spec.target, err });
    };
    try {
      const listen = { host: '127.0.0.1', port: spec.port ?? 0 };
      const endpoint = () => this.endpointOf(spec.cluster);
      const carried = spec.kind === 'route' ? undefined : await this.carried(spec, endpoint());
      const local = carried ? await startLocalProxy({ listen, endpoint, ...carried, onError, listenFlag: PORT_FIELD }) : await routeListener(listen, endpoint, spec.target, onError);
      entry.close = local.close;
      const protocol = typeof carried?.carries === 'object' ? carried.carries.protocol : undefined;
      Object.assign(gateway, { status: 'listening', port: local.addr.port, address: formatHostPort(local.addr), ...connectionOf(spec, local.addr, protocol) });
      delete gateway.error;
    } catch (err) {
      gateway.error = toPosternError(err).message;
    }
    return gateway;
  }

  /** What a database's or TCP app's connections carry, as the cluster lists it now. */
  private async carried(spec: GatewaySpec, endpoint: ProxyEndpoint): Promise<Pick<Parameters<typeof startLocalProxy>[0], 'servername' | 'carries'>> {
    if (spec.kind === 'db') {
      const { databases } = await callApi<DbList>(endpoint, 'GET', '/webapi/databases');
      const db = databases.find((d) => d.name === spec.target);
      if (!db) throw new PosternError('NOT_FOUND', `there is no database "${spec.target}" you may reach online on ${spec.cluster}`);
      if (db.protocol !== 'postgres' && db.protocol !== 'mysql') throw new PosternError('NOT_IMPLEMENTED', `${db.name} is a ${db.protocol} database; Postern connects to PostgreSQL and MySQL/MariaDB only`);
      return { servername: endpoint.proxy.host, carries: { db: db.name, protocol: db.protocol } };
    }
    const { apps } = await callApi<AppList>(endpoint, 'GET', '/webapi/apps');
    const app = apps.find((a) => a.name === spec.target);
    if (!app) throw new PosternError('NOT_FOUND', `there is no app "${spec.target}" you may reach online on ${spec.cluster}`);
    if (app.type !== 'tcp') throw new PosternError('USAGE', `${app.name} is a web app: open it in the browser (Launch)`);
    return { servername: app.public_addr.replace(/:\d+$/, ''), carries: 'tcp' };
  }

  private save(): void {
    this.workspace.save('gateways', this.list().map(specOf));
  }
}

/** A route's listener: each local connection gets its own CONNECT tunnel, as `postern tcp --listen` does. */
async function routeListener(listen: HostPort, endpoint: () => ProxyEndpoint, authority: string, onError: (err: Error) => void): Promise<{ addr: HostPort; close(): Promise<void> }> {
  const server: Server = createServer({ noDelay: true, allowHalfOpen: true }, (local) => {
    local.on('error', () => {});
    local.pause();
    Promise.resolve()
      .then(() => connectRoute(endpoint(), authority))
      .then(
        (remote) => joinStreams(local, remote),
        (err: unknown) => {
          onError(toPosternError(err));
          local.destroy();
        },
      );
  });
  const addr = await listenLocally(server, listen, PORT_FIELD);
  return { addr, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** What to give a client: the gateway speaks plain TCP on loopback (TLS and the certificate are its own business). */
function connectionOf(spec: GatewaySpec, addr: HostPort, protocol: 'postgres' | 'mysql' | undefined): Pick<ConnectGateway, 'connection' | 'command'> {
  const where = formatHostPort(addr);
  const user = spec.db_user ? `${encodeURIComponent(spec.db_user)}@` : '';
  const name = spec.db_name ? `/${encodeURIComponent(spec.db_name)}` : '';
  if (protocol === 'postgres') return { connection: `postgres://${user}${where}${name}?sslmode=disable`, command: `psql "postgres://${user}${where}${name}?sslmode=disable"` };
  if (protocol === 'mysql') return { connection: `mysql://${user}${where}${name}`, command: `mysql -h ${addr.host} -P ${addr.port}${spec.db_user ? ` -u ${spec.db_user}` : ''}${spec.db_name ? ` ${spec.db_name}` : ''}` };
  return { connection: where };
}

function specOf(g: ConnectGateway): GatewaySpec {
  return { cluster: g.cluster, kind: g.kind, target: g.target, ...(g.db_user ? { db_user: g.db_user } : {}), ...(g.db_name ? { db_name: g.db_name } : {}), ...(g.port !== undefined ? { port: g.port } : {}) };
}

function check(spec: GatewaySpec): GatewaySpec {
  if (typeof spec?.cluster !== 'string' || !spec.cluster) throw new PosternError('BAD_REQUEST', 'give the cluster');
  if (!['db', 'app', 'route'].includes(spec.kind)) throw new PosternError('BAD_REQUEST', 'kind is db, app or route');
  if (typeof spec.target !== 'string' || !spec.target) throw new PosternError('BAD_REQUEST', 'give the target: a database, an app or a route (host:port)');
  if (spec.port !== undefined && (!Number.isInteger(spec.port) || spec.port < 0 || spec.port > 65535)) throw new PosternError('BAD_REQUEST', `port ${spec.port} is not a port number (0-65535)`);
  if (spec.kind === 'route') mustParse(spec.target);
  return spec;
}

function valid(spec: GatewaySpec): boolean {
  try {
    check(spec);
    return true;
  } catch {
    return false;
  }
}

function randomId(): string {
  return randomBytes(6).toString('hex');
}
