import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { callApi, type ProxyEndpoint } from '../client/api-client.js';
import { login, profileEndpoint, trustByPin } from '../client/login.js';
import { mustParse, ProfileStore } from '../client/profile-store.js';
import { PosternError } from '../errors/postern-error.js';
import { formatHostPort, type HostPort } from '../net/addr.js';
import { writeSecretFile } from '../storage/secret-file.js';
import type { AppList, DbList, NodeList, RouteList } from '../wire/api.js';
import type { AddClusterRequest, ConnectCluster, ConnectLoginRequest, ConnectResources } from '../wire/connect.js';

/** A cluster added in Connect and not logged in to yet: its address, and the pin it was added with. */
interface Added {
  proxy: string;
  ca_pin?: string;
}

/**
 * Connect's clusters: every profile of the CLI's store (logging in here logs in the CLI, and the
 * other way round, since both read and write the same files), plus clusters added here by address
 * and not logged in to yet (kept in `<home>/connect/clusters.json`, with the pin they were added
 * with, so that the login checks the proxy as `postern login --ca-pin` does).
 */
export class Clusters {
  private readonly addedFile: string;

  constructor(
    private readonly store: ProfileStore,
    private readonly opts: { insecure: boolean },
  ) {
    this.addedFile = join(store.home, 'connect', 'clusters.json');
  }

  list(): ConnectCluster[] {
    const current = this.store.currentName();
    const profiles = this.store.names().map((name): ConnectCluster => {
      const p = this.store.load(name);
      const expired = Date.parse(p.expires) <= Date.now();
      return { name, proxy: p.proxy, status: expired ? 'expired' : 'logged-in', current: name === current, user: p.user, cluster: p.cluster, roles: p.roles, expires: p.expires };
    });
    const known = new Set(profiles.map((p) => p.name));
    const added = this.added()
      .map((a) => ({ name: ProfileStore.nameFor(mustParse(a.proxy)), proxy: a.proxy }))
      .filter((a) => !known.has(a.name))
      .map((a): ConnectCluster => ({ ...a, status: 'logged-out', current: false }));
    return [...profiles, ...added].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Adds a cluster by address: with a pin, only once the proxy serves the CA it names. */
  async add(req: AddClusterRequest): Promise<ConnectCluster> {
    const addr = mustParse(req.proxy);
    const proxy = formatHostPort(addr);
    if (req.ca_pin) await trustByPin(addr, req.ca_pin);
    else if (!this.opts.insecure) await callApi(this.endpoint(proxy), 'GET', '/webapi/ping'); // the system's CAs must vouch for it
    const added = this.added().filter((a) => a.proxy !== proxy);
    this.saveAdded([...added, { proxy, ...(req.ca_pin ? { ca_pin: req.ca_pin.trim() } : {}) }]);
    return this.find(ProfileStore.nameFor(addr));
  }

  /** Logs in as `postern login` does, into the shared store (it becomes the CLI's current profile too). */
  async login(name: string, req: ConnectLoginRequest): Promise<ConnectCluster> {
    const cluster = this.find(name);
    const pin = this.added().find((a) => a.proxy === cluster.proxy)?.ca_pin;
    await login({ proxy: cluster.proxy, user: req.user, password: req.password, ...(req.otp ? { otp: req.otp } : {}), ...(pin ? { caPin: pin } : {}), insecure: this.opts.insecure }, this.store);
    return this.find(name);
  }

  /** Removes the profile's certificate and key (as `postern logout` does); the cluster stays in the list. */
  logout(name: string): ConnectCluster {
    const cluster = this.find(name);
    if (!this.added().some((a) => a.proxy === cluster.proxy)) this.saveAdded([...this.added(), { proxy: cluster.proxy }]);
    this.store.remove(name);
    return this.find(name);
  }

  /**
   * Forgets a cluster added here: only one that is logged out, since its profile is the CLI's
   * too (log out first). Its gateways and tabs stay until removed or closed.
   */
  forget(name: string): void {
    const cluster = this.find(name);
    if (cluster.status !== 'logged-out') throw new PosternError('USAGE', `you are logged in to ${cluster.proxy} (the CLI is too, with the same profile): log out first, then remove it`);
    this.saveAdded(this.added().filter((a) => a.proxy !== cluster.proxy));
  }

  /** Makes it the CLI's current profile. */
  select(name: string): ConnectCluster {
    this.store.setCurrent(this.find(name).name);
    return this.find(name);
  }

  /** Everything the user may reach on the cluster, decided by its proxy with the profile's certificate. */
  async resources(name: string): Promise<ConnectResources> {
    const endpoint = this.endpointOf(name);
    const [apps, nodes, databases, routes] = await Promise.all([
      callApi<AppList>(endpoint, 'GET', '/webapi/apps'),
      callApi<NodeList>(endpoint, 'GET', '/webapi/nodes'),
      callApi<DbList>(endpoint, 'GET', '/webapi/databases'),
      callApi<RouteList>(endpoint, 'GET', '/webapi/routes'),
    ]);
    return { apps: apps.apps, nodes: nodes.nodes, databases: databases.databases, routes: routes.routes };
  }

  /** The proxy's host:port, for `postern … --proxy`. */
  proxyOf(name: string): string {
    return this.find(name).proxy;
  }

  /** Where the cluster's calls go, with the profile's certificate as it is now: an error that says to log in when there is none or it expired. */
  endpointOf(name: string): ProxyEndpoint & { proxy: HostPort } {
    const cluster = this.find(name);
    if (cluster.status === 'logged-out') throw new PosternError('UNAUTHENTICATED', `you are not logged in to ${cluster.proxy}; log in in Postern Connect (or with postern login)`);
    return { ...profileEndpoint(this.store, cluster.proxy), ...(this.opts.insecure ? { insecure: true } : {}) };
  }

  private find(name: string): ConnectCluster {
    const found = this.list().find((c) => c.name === name);
    if (!found) throw new PosternError('NOT_FOUND', `there is no cluster "${name}" in Connect; add it by its address first`);
    return found;
  }

  private endpoint(proxy: string): ProxyEndpoint {
    return { proxy: mustParse(proxy), ...(this.opts.insecure ? { insecure: true } : {}) };
  }

  private added(): Added[] {
    if (!existsSync(this.addedFile)) return [];
    try {
      const parsed: unknown = JSON.parse(readFileSync(this.addedFile, 'utf8'));
      return Array.isArray(parsed) ? parsed.filter((a): a is Added => typeof a?.proxy === 'string') : [];
    } catch (err) {
      throw new PosternError('CONFIG_INVALID', `${this.addedFile} is not valid JSON (${(err as Error).message}); fix it or remove it (it lists the clusters added in Connect)`);
    }
  }

  private saveAdded(added: Added[]): void {
    writeSecretFile(this.addedFile, JSON.stringify(added, null, 2) + '\n');
  }
}
