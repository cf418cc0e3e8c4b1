import { callApi, type ProxyEndpoint } from '../client/api-client.js';
import { toPosternError } from '../errors/postern-error.js';
import type { HostPort } from '../net/addr.js';
import type { AppList, DbList, NodeList, RouteList } from '../wire/api.js';

/** Where a cluster's calls go, with the profile's certificate as it is now (throws when logged out or expired). */
export type EndpointOf = (cluster: string) => ProxyEndpoint & { proxy: HostPort };

/** What a gateway or a tab reaches on a cluster: a database, an app, a route (host:port) or a node. */
export interface Target {
  kind: 'db' | 'app' | 'route' | 'node';
  name: string;
}

/** Each kind's listing on the proxy, and the names in it. */
const LISTINGS: { [K in Target['kind']]: { path: string; names: (list: never) => string[] } } = {
  db: { path: '/webapi/databases', names: (l: DbList) => l.databases.map((d) => d.name) },
  app: { path: '/webapi/apps', names: (l: AppList) => l.apps.map((a) => a.name) },
  route: { path: '/webapi/routes', names: (l: RouteList) => l.routes.map((r) => r.authority) },
  node: { path: '/webapi/nodes', names: (l: NodeList) => l.nodes.map((n) => n.name) },
};

/**
 * Why targets on one cluster cannot be reached now, as the cluster says: one listing per kind
 * (what the proxy lets this person reach online), with the profile's certificate. A reason for
 * the whole cluster (not logged in, the login expired, the proxy out of reach, the user locked)
 * comes back as one string; otherwise each target that is not listed gets its own reason, and
 * the rest none. Never throws.
 */
export async function whyUnreachable(endpointOf: EndpointOf, cluster: string, targets: Target[]): Promise<string | Map<Target, string>> {
  try {
    const endpoint = endpointOf(cluster);
    const kinds = [...new Set(targets.map((t) => t.kind))];
    const listed = new Map(await Promise.all(kinds.map(async (kind) => [kind, new Set(LISTINGS[kind].names(await callApi<never>(endpoint, 'GET', LISTINGS[kind].path)))] as const)));
    const reasons = new Map<Target, string>();
    for (const t of targets) {
      if (!listed.get(t.kind)!.has(t.name)) reasons.set(t, `${t.name} is not there for you now: ${t.kind === 'route' ? 'the proxy no longer has that route' : 'its agent is offline, it was removed'}, or your roles no longer allow it`);
    }
    return reasons;
  } catch (err) {
    return clusterProblem(toPosternError(err), cluster);
  }
}

/** A cluster-wide failure, said for Connect's page: what happened, and what brings it back. */
function clusterProblem(err: ReturnType<typeof toPosternError>, cluster: string): string {
  if (err.code === 'CERT_EXPIRED') return `your login to ${cluster} expired: log in again (Clusters)`;
  if (err.code === 'PROXY_UNREACHABLE') return `${err.message} (this device may be offline, or the proxy down)`;
  return err.message;
}
