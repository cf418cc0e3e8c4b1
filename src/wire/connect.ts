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
