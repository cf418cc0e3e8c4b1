/**
 * The API of the Postern Connect daemon (`postern connect`), between the daemon on loopback and
 * its page in the browser: JSON over HTTP under /api, errors as the proxy's (`ErrorBody`).
 * Documented in docs/connect.md; the UI imports these types, so a field renamed here fails its
 * build.
 */
import type { ListedApp, ListedDb, ListedNode, ListedRoute } from './api.js';

/** Where the page is served, and the API beside it. */
export const CONNECT_PAGE = '/web/connect';
/** The cookie the launch token is exchanged for (HttpOnly, SameSite=Strict). */
export const CONNECT_COOKIE = 'postern_connect';

/** POST /api/session: the launch token from the URL's fragment, for the cookie. */
export interface ConnectSessionRequest {
  token: string;
}

/** GET /api/status: what the page shows in its header. */
export interface ConnectStatus {
  version: string;
  /** Server certificates are not checked (`postern connect --insecure`): the page shows a banner. */
  insecure: boolean;
  /** Where profiles are kept: the CLI's store, shared. */
  home: string;
}

/** One cluster: a profile of the CLI's store, or an address added here and not logged in to yet. */
export interface ConnectCluster {
  /** The profile's name: `postern.example.com`, or `host-port` off 443. */
  name: string;
  /** host:port of the proxy. */
  proxy: string;
  /** `logged-in`: a valid certificate; `expired`: log in again; `logged-out`: added, never logged in (or logged out). */
  status: 'logged-in' | 'expired' | 'logged-out';
  /** The CLI's current profile (what `postern` commands use by default). */
  current: boolean;
  user?: string;
  /** The cluster's own name, once logged in. */
  cluster?: string;
  roles?: string[];
  /** When the certificate expires (ISO 8601). */
  expires?: string;
}

export interface ConnectClusters {
  clusters: ConnectCluster[];
}

/** POST /api/clusters: a cluster by address; the pin is checked against the CA the proxy serves before anything is kept. */
export interface AddClusterRequest {
  proxy: string;
  /** `sha256:…` of the host CA; leave out for a proxy with a publicly trusted certificate. */
  ca_pin?: string;
}

/** POST /api/clusters/NAME/login: logs in as `postern login` does, into the same profile store. */
export interface ConnectLoginRequest {
  user: string;
  password: string;
  otp?: string;
}

/** GET /api/clusters/NAME/resources: everything the user may reach there, as the proxy decided it. */
export interface ConnectResources {
  apps: ListedApp[];
  nodes: ListedNode[];
  databases: ListedDb[];
  routes: ListedRoute[];
}

/** POST /api/gateways: a local proxy on a loopback port to a database, a TCP app or a TCP route of a cluster. */
export interface GatewaySpec {
  /** The cluster's name (a profile's). */
  cluster: string;
  kind: 'db' | 'app' | 'route';
  /** The database's or app's name, or the route's host:port. */
  target: string;
  /** Databases: the database user and name the connection string names (the client may give others the roles allow). */
  db_user?: string;
  db_name?: string;
  /** 0 (or left out): a free port; the port it got is kept, and the next start asks for it again. */
  port?: number;
}

/** A gateway as the page shows it. */
export interface ConnectGateway extends GatewaySpec {
  id: string;
  /** `listening` on `address`; `failed`: not listening, `error` says why (a port in use, the cluster out of reach): Retry, maybe with another port. */
  status: 'listening' | 'failed';
  address?: string;
  /** What to give a client: a connection URI for databases, host:port for the rest. */
  connection?: string;
  /** A command that uses it, where there is one (`psql "postgres://…"`). */
  command?: string;
  /** Why it is not listening, or why its last connection failed (an expired certificate: log in again, and it goes on). */
  error?: string;
  /**
   * Why connections would fail now, checked every few seconds while it listens: the target is
   * offline or no longer allowed, the certificate expired, the cluster cannot be reached. It
   * clears by itself when that passes; the gateway keeps listening meanwhile.
   */
  problem?: string;
}

export interface ConnectGateways {
  gateways: ConnectGateway[];
}

/** POST /api/gateways/ID/retry: starts a failed gateway again, or moves one to another port. */
export interface RetryGatewayRequest {
  port?: number;
}

/** POST /api/terminals: a tab with a PTY on this machine: a local shell, SSH to a node as a login, or a database's client (`postern db connect`). */
export interface TerminalSpec {
  cluster: string;
  kind: 'shell' | 'ssh' | 'db';
  node?: string;
  login?: string;
  /** A `db` tab's database, and the database user and name it connects as. */
  db?: string;
  db_user?: string;
  db_name?: string;
  cols?: number;
  rows?: number;
}

/** A tab; its PTY streams over the WebSocket /api/terminals/ID/socket. */
export interface ConnectTerminal extends TerminalSpec {
  id: string;
  title: string;
}

export interface ConnectTerminals {
  terminals: ConnectTerminal[];
}
