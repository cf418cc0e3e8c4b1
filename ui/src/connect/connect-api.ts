import type { AddClusterRequest, ConnectCluster, ConnectClusters, ConnectGateway, ConnectGateways, ConnectLoginRequest, ConnectResources, ConnectStatus, ConnectTerminal, ConnectTerminals, GatewaySpec, TerminalSpec } from '../../../src/wire/connect.js';
import { request } from '../api';
import type { ResourceSource } from '../Resources';

export type { ConnectCluster, ConnectGateway, ConnectStatus, ConnectTerminal, TerminalSpec } from '../../../src/wire/connect.js';

const path = (name: string, action: string) => `/api/clusters/${encodeURIComponent(name)}/${action}`;
const quiet = { signInOn401: false };

/** The Connect daemon's API (docs/connect.md), same-origin with its cookie. */
export const connectApi = {
  /** Trades the launch token from the address's fragment for the daemon's cookie. */
  session: (token: string) => request<{ ok: boolean }>('POST', '/api/session', { token }, quiet),
  status: () => request<ConnectStatus>('GET', '/api/status', undefined, quiet),
  clusters: () => request<ConnectClusters>('GET', '/api/clusters', undefined, quiet),
  add: (req: AddClusterRequest) => request<ConnectCluster>('POST', '/api/clusters', req, quiet),
  login: (name: string, req: ConnectLoginRequest) => request<ConnectCluster>('POST', path(name, 'login'), req, quiet),
  logout: (name: string) => request<ConnectCluster>('POST', path(name, 'logout'), {}, quiet),
  select: (name: string) => request<ConnectCluster>('POST', path(name, 'select'), {}, quiet),
  forget: (name: string) => request<{ removed: boolean }>('DELETE', `/api/clusters/${encodeURIComponent(name)}`, undefined, quiet),
  resources: (name: string) => request<ConnectResources>('GET', path(name, 'resources'), undefined, quiet),
  gateways: () => request<ConnectGateways>('GET', '/api/gateways', undefined, quiet),
  startGateway: (spec: GatewaySpec) => request<ConnectGateway>('POST', '/api/gateways', spec, quiet),
  retryGateway: (id: string, port?: number) => request<ConnectGateway>('POST', `/api/gateways/${encodeURIComponent(id)}/retry`, port === undefined ? {} : { port }, quiet),
  removeGateway: (id: string) => request<{ removed: boolean }>('DELETE', `/api/gateways/${encodeURIComponent(id)}`, undefined, quiet),
  terminals: () => request<ConnectTerminals>('GET', '/api/terminals', undefined, quiet),
  openTerminal: (spec: TerminalSpec) => request<ConnectTerminal>('POST', '/api/terminals', spec, quiet),
  closeTerminal: (id: string) => request<{ closed: boolean }>('DELETE', `/api/terminals/${encodeURIComponent(id)}`, undefined, quiet),
};

/** The resource list's source for one cluster: one request for all four lists; `started` hears of each gateway started from it. */
export function clusterSource(cluster: ConnectCluster, started: () => void, sshTab: (node: string, login: string) => void): ResourceSource {
  let all: Promise<ConnectResources> | undefined;
  const fetched = () => (all ??= connectApi.resources(cluster.name).finally(() => setTimeout(() => (all = undefined), 0)));
  return {
    lists: {
      apps: async () => ({ apps: (await fetched()).apps }),
      nodes: async () => ({ nodes: (await fetched()).nodes }),
      databases: async () => ({ databases: (await fetched()).databases }),
      routes: async () => ({ routes: (await fetched()).routes }),
    },
    launchBase: `https://${cluster.proxy}`,
    terminal: false,
    refreshEveryMs: 5000,
    sshTab,
    gateway: async (kind, target, db) => {
      await connectApi.startGateway({ cluster: cluster.name, kind, target, ...(db?.user ? { db_user: db.user } : {}), ...(db?.name ? { db_name: db.name } : {}) });
      started();
    },
  };
}
