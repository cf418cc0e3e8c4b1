import { z } from 'zod';

/**
 * The reverse tunnel's wire contract (DESIGN.md §6), shared by both ends. The agent dials the
 * proxy (TLS, ALPN postern-reversetunnel, its host certificate); on that socket the roles flip:
 * the proxy is the HTTP/2 client and the agent the HTTP/2 server.
 *
 * - `CONNECT` with the resource in headers: a byte stream to that resource's target. The agent
 *   answers 200 and relays, or an error status with a reason; it only serves what it announced.
 * - `GET /v1/resources?after=N`: what the agent serves. Answered at once when the agent's
 *   version is past N, else when it changes or after HEARTBEAT_MS: a long poll that is both the
 *   announcement channel and the heartbeat.
 * - On refusal the proxy sends GOAWAY with the error (JSON) as debug data, so the agent can say
 *   why instead of seeing a bare close.
 *
 * What a resource announcement holds is the resource table's business (resources/table.ts): each
 * entry of `resources` is checked on its own there, so one bad entry does not take the tunnel down.
 */
export const HEADER_KIND = 'postern-kind';
export const HEADER_NAME = 'postern-name';
export const HEADER_ERROR = 'postern-error';
/** With a database stream: the client certificate for the database user (PEM, base64), made for the agent's database key. */
export const HEADER_DB_CERT = 'postern-db-cert';
/** With a database stream: the CA the database's server certificate must chain to (PEM, base64). */
export const HEADER_DB_CA = 'postern-db-ca';
/** With a MySQL stream: what the client chose in its handshake response (a MysqlClientHello as JSON, base64), for the agent's own handshake. */
export const HEADER_DB_MYSQL_CLIENT = 'postern-db-mysql-client';
/**
 * In the agent's answer to a MySQL stream: the server's id for the session's connection (what
 * `KILL QUERY` names; the proxy's greeting had to make one up) and the server's version (for the
 * proxy's next greetings). Agents before these headers leave them out.
 */
export const HEADER_DB_CONNECTION_ID = 'postern-db-connection-id';
export const HEADER_DB_SERVER_VERSION = 'postern-db-server-version';
export const RESOURCES_PATH = '/v1/resources';
/**
 * With each resources poll: the polling proxy's id, and the ids of every live proxy of the
 * cluster (comma-separated). An agent keeps a tunnel to each (dialling the address it was given
 * until the load balancer has brought it to all of them); proxies before these headers send none,
 * and their agents keep one tunnel.
 */
export const HEADER_PROXY_ID = 'postern-proxy-id';
export const HEADER_PROXIES = 'postern-proxies';

/**
 * The reason in a refused stream's HEADER_ERROR, which the agent URI-encodes (a header value is
 * one line). A value that does not decode is kept as sent: the proxy reads it in an HTTP/2 event
 * handler, where a URIError would end the process.
 */
export function errorReason(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** How long the agent holds a resource poll with no change before answering anyway. */
export const HEARTBEAT_MS = 5_000;
/** A tunnel that has not completed a poll for this long is dead (both ends close it). */
export const DEAD_AFTER_MS = 3 * HEARTBEAT_MS;
/** How long a resource record outlives its last heartbeat in storage (a proxy that died cannot delete it). */
export const RESOURCE_TTL_MS = 3 * HEARTBEAT_MS;

/** The envelope of the agent's answer to a resources poll. */
export const resourcesMessage = z.object({
  version: z.number().int(),
  agent: z.object({ name: z.string().max(253), version: z.string().max(64) }),
  resources: z.array(z.unknown()).max(10_000),
});
export type ResourcesMessage<R = unknown> = Omit<z.output<typeof resourcesMessage>, 'resources'> & { resources: R[] };
