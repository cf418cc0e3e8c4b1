/**
 * The one protocol table (DESIGN.md §2). Every protocol that travels over the public TLS port is
 * named here, once: the router reads nothing else to decide where a connection goes, the server
 * registers a handler per row, and clients take their ALPN names from here. A protocol whose
 * handler has not been registered is refused with a clear alert and log line.
 */
export type ProtocolId = 'reversetunnel' | 'ssh' | 'tcp' | 'postgres' | 'mysql' | 'mongodb' | 'kube' | 'acme' | 'web';

export interface ProtocolSpec {
  id: ProtocolId;
  /** ALPN names that select this protocol, in the server's order of preference. */
  alpn: readonly string[];
  /** Also accept `<alpn>-ping`: the same protocol with keepalive framing for idle tunnels. */
  ping: boolean;
  /** Selected by SNI instead of ALPN: a server name starting with this prefix. */
  sniPrefix?: string;
  /** What the client proves who it is with; enforced by the handler through the one verifier. */
  clientIdentity: string;
  /** For people reading logs and errors. */
  description: string;
}

export const PING_SUFFIX = '-ping';

export const PROTOCOLS: readonly ProtocolSpec[] = [
  { id: 'reversetunnel', alpn: ['postern-reversetunnel'], ping: false, clientIdentity: 'host certificate', description: 'agent reverse tunnels' },
  { id: 'ssh', alpn: ['postern-ssh'], ping: true, clientIdentity: 'user certificate', description: 'SSH to a node' },
  { id: 'tcp', alpn: ['postern-tcp'], ping: true, clientIdentity: 'user certificate', description: 'TCP apps and routes' },
  { id: 'postgres', alpn: ['postern-postgres'], ping: true, clientIdentity: 'user certificate; the database named in a first JSON line', description: 'PostgreSQL access' },
  { id: 'mysql', alpn: ['postern-mysql'], ping: true, clientIdentity: 'user certificate; the database named in a first JSON line', description: 'MySQL and MariaDB access' },
  { id: 'mongodb', alpn: ['postern-mongodb'], ping: true, clientIdentity: 'user certificate with a database route', description: 'MongoDB access' },
  { id: 'kube', alpn: ['h2', 'http/1.1'], ping: false, sniPrefix: 'kube.', clientIdentity: 'user certificate', description: 'the Kubernetes API' },
  // No handler: while a challenge waits the listener answers it before TLS reaches the router
  // (its certificate depends on the ALPN offered); at any other time it is refused like any other.
  { id: 'acme', alpn: ['acme-tls/1'], ping: false, clientIdentity: 'none: an ACME server validating this proxy (TLS-ALPN-01)', description: 'ACME certificate validation' },
  { id: 'web', alpn: ['h2', 'http/1.1'], ping: false, clientIdentity: 'cookie, bearer token or user certificate', description: 'web UI, API, apps and HTTP CONNECT tunnels' },
];

/** The ALPN name a client offers for a protocol: the first in its row. */
export function alpnOf(id: ProtocolId): string {
  return PROTOCOLS.find((p) => p.id === id)!.alpn[0]!;
}
