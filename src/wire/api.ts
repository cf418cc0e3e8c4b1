import type { PosternError } from '../errors/postern-error.js';

/**
 * The proxy's JSON API as both ends see it: the request and response bodies of each route, and
 * the error form. The server builds its answers as these types, and the CLI, agents and the web
 * UI read them as these types (the UI build imports this file), so a field renamed on one side is
 * a compile error on the other. Fields are snake_case on the wire.
 *
 * Type declarations only: nothing here may need Node, since the browser bundle imports it.
 */

/** Every error answer: `{"error": {"code", "message", "request_id"}}` (errors/codes.ts lists the codes). */
export type ErrorBody = ReturnType<PosternError['toJSON']>;

/** `GET /webapi/ping`: what a client needs before logging in, and the address the proxy sees for it. */
export interface Ping {
  cluster_name: string;
  public_addr: string;
  version: string;
  /** The ALPN names this proxy serves now. */
  protocols: string[];
  client_addr: string;
}

/** `GET /webapi/auth/settings`: what the sign-in form needs to know. */
export interface AuthSettings {
  second_factor: 'otp' | 'off';
}

/** `GET /webapi/cluster/ca`: the CAs, so a client can check them against a pin before trusting the proxy. */
export interface ClusterCa {
  cluster_name: string;
  host_ca_pem: string;
  host_ca_pin: string;
  user_ca_pem: string;
}

/** `GET /webapi/whoami`, and the answer to signing in (`POST /webapi/sessions`). */
export interface WhoAmI {
  username: string;
  roles: string[];
  traits: Record<string, string[]>;
  /** Logins the roles allow on some node. */
  logins: string[];
  via: 'certificate' | 'session' | 'token';
  expires: string;
  cluster_name: string;
  /** Which console pages the roles' admin rules open (the server decides each call again). */
  console: ConsoleRights;
}

export interface ConsoleRights {
  /** `list` on `audit`. */
  audit: boolean;
  /** `list` on `session`. */
  sessions: boolean;
  /** `list` on users, roles, tokens or locks. */
  administer: boolean;
}

/** `POST /webapi/login`: credentials and public keys in. */
export interface LoginRequest {
  user: string;
  password: string;
  otp?: string;
  /** PEM SPKI of the client's ECDSA P-256 key. */
  public_key: string;
  /** OpenSSH public key, for the login's SSH certificate. */
  ssh_public_key?: string;
  ttl_ms?: number;
}

/** `POST /webapi/login`: a user certificate (and an SSH certificate) out. */
export interface LoginResponse {
  ssh_cert?: string;
  ssh_known_hosts?: string;
  username: string;
  roles: string[];
  traits: Record<string, string[]>;
  logins: string[];
  cert_pem: string;
  expires: string;
  cluster_name: string;
  host_ca_pem: string;
  user_ca_pem: string;
}

/** An app as the UI and `postern apps ls` list it: online, and allowed by the caller's roles. */
export interface ListedApp {
  name: string;
  description?: string;
  labels: Record<string, string>;
  type: 'http' | 'tcp';
  public_addr: string;
  /** Web apps: where the UI's Launch button goes. */
  launch_url?: string;
}

/** `GET /webapi/apps`. */
export interface AppList {
  apps: ListedApp[];
}

/** `POST /webapi/apps/NAME/certificate`: a certificate narrowed to one app, for curl and `postern proxy app`. */
export interface AppCertificateResponse {
  cert_pem: string;
  expires: string;
  app: { name: string; type: 'http' | 'tcp'; public_addr: string };
}

/** An SSH node the caller may log in to, and as whom. */
export interface ListedNode {
  name: string;
  labels: Record<string, string>;
  description?: string;
  logins: string[];
}

/** `GET /webapi/nodes`. */
export interface NodeList {
  nodes: ListedNode[];
}

/** A database the caller may reach, and as which database users, in which databases. */
export interface ListedDb {
  name: string;
  /** postgres, mysql or mongodb. */
  protocol: string;
  labels: Record<string, string>;
  description?: string;
  db_users: string[];
  /** PostgreSQL database names the roles allow (none when they name none); empty for MySQL, whose schemas roles do not decide. */
  db_names: string[];
}

/** `GET /webapi/databases`. */
export interface DbList {
  databases: ListedDb[];
}

/** A TCP route the caller may open (where it leads stays the proxy's). */
export interface ListedRoute {
  /** host:port, what `postern tcp` asks for. */
  authority: string;
  labels: Record<string, string>;
}

/** `GET /webapi/routes`. */
export interface RouteList {
  routes: ListedRoute[];
}

/** `POST /webapi/join` and `POST /webapi/agent/renew`: an agent's host certificate. */
export interface AgentCertificateResponse {
  agent_id: string;
  cert_pem: string;
  expires: string;
  roles: string[];
  host_ca_pem: string;
  cluster_name: string;
}

/** `POST /webapi/device/code`: a device login started. */
export interface DeviceCodeResponse {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  /** Seconds between polls of /webapi/device/token. */
  interval: number;
  expires_in: number;
}

/** `POST /webapi/device/token` once approved: a bearer token for `postern tcp`. */
export interface DeviceTokenResponse {
  token: string;
  user: string;
  expires: string;
}

/** `POST /webapi/admin/OP`: the op's result (admin/ops.ts types each op's arguments and result). */
export interface AdminResponse<R = unknown> {
  result: R;
}
