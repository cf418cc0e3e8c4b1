import type { Access } from '../../access/access.js';
import { callerFromIdentity } from '../../access/caller.js';
import { emitSoon, type AuditLog } from '../../audit/audit-log.js';
import type { ClusterState } from '../../auth/cluster-state.js';
import type { IdentityVerifier } from '../../auth/verifier.js';
import type { ErrorCode } from '../../errors/codes.js';
import { PosternError, toPosternError } from '../../errors/postern-error.js';
import { issueCertificate } from '../../pki/authority.js';
import { importClientKey } from '../../pki/client-key.js';
import type { DbAnnouncement } from '../../resources/db.js';
import type { TunnelRegistry } from '../../tunnel/registry.js';
import { errorResponse, readStartup } from '../../wire/postgres.js';
import { readLine } from '../../wire/stream-status.js';
import { HEADER_DB_CA, HEADER_DB_CERT } from '../../wire/tunnel.js';
import type { ProtocolHandler, RoutedConnection } from '../router.js';
import { PostgresQueryReader } from './postgres-queries.js';

/** The client must say which database, and send its startup message, this soon after the handshake. */
const OPENING_TIMEOUT_MS = 10_000;
/** PostgreSQL's error code for a refusal, so clients and drivers class it right (08006: the connection failed). */
const SQLSTATE: Partial<Record<ErrorCode, string>> = {
  ACCESS_DENIED: '28000',
  LOCKED: '28000',
  MFA_REQUIRED: '28000',
  UNAUTHENTICATED: '28000',
  CERT_EXPIRED: '28000',
  BAD_REQUEST: '08P01',
  NOT_IMPLEMENTED: '0A000',
};
/** A database-user certificate only has to open the session (PostgreSQL checks it once, at the start). */
const DB_CERT_TTL_MS = 5 * 60_000;

/**
 * `postern-postgres`: a PostgreSQL session inside the TLS connection. The client (`postern proxy
 * db`'s local listener) sends one line, `{"db": NAME}`, then the database client's opening as
 * it is; the proxy reads the StartupMessage's user and database, and the access pipeline decides
 * the database, that database user and that database name. Allowed: the proxy makes a
 * certificate for the database user, for the key of the agent serving the database, and the
 * agent opens TLS to the database with it; the startup message goes on, and bytes flow both ways
 * for as long as access holds. Refused: the client gets a PostgreSQL ErrorResponse with the
 * reasons, which psql prints.
 */
export class PostgresHandler implements ProtocolHandler {
  constructor(private readonly deps: { verifier: IdentityVerifier; access: Access; tunnels: TunnelRegistry; cluster: ClusterState; audit: AuditLog }) {}

  handle(conn: RoutedConnection): void {
    void this.serve(conn).catch((err: unknown) => {
      const e = toPosternError(err);
      conn.log.info('refused a database connection', { reason: e.message, code: e.code });
      if (!conn.socket.destroyed) conn.socket.end(errorResponse({ code: SQLSTATE[e.code] ?? '08006', message: e.message, hint: `Postern error ${e.code}` }));
    });
  }

  private async serve(conn: RoutedConnection): Promise<void> {
    const { verifier, access, tunnels, cluster } = this.deps;
    const identity = verifier.verifyPeer(conn.socket, 'user');
    const timer = setTimeout(() => conn.socket.destroy(), OPENING_TIMEOUT_MS);
    const { request, opening } = await (async () => {
      const line = await readLine(conn.socket);
      return { request: line, opening: await readStartup(conn.socket) };
    })().finally(() => clearTimeout(timer));
    const name = String(request.db ?? '');
    if (opening.packet.type !== 'startup') throw new PosternError('NOT_IMPLEMENTED', 'cancelling a query through Postern is not built yet');
    const { user: dbUser, database: dbName } = opening.packet;
    let resource: DbAnnouncement | undefined;
    const authorization = await access.authorizeLookup({
      caller: callerFromIdentity(identity),
      target: { kind: 'db', name },
      find: async () => {
        resource = tunnels.resolve('db', name);
        return { kind: 'db', name, labels: resource.labels };
      },
      current: () => {
        const now = tunnels.find('db', name);
        return now && { kind: 'db', name, labels: now.labels };
      },
      request: { dbUser, dbName },
      clientAddr: conn.clientAddr.address,
      log: conn.log,
    });
    if (!authorization.allowed || !resource) throw authorization.error(`may not connect to database ${name} as ${dbUser}`);
    const db = resource;
    if (!db.client_key) throw new PosternError('TARGET_UNREACHABLE', `the agent serving ${name} announced no database key; upgrade it to this version of Postern`);
    const cert = await issueCertificate(cluster.authorities.db, { publicKey: await importClientKey(db.client_key), commonName: dbUser, ttlMs: DB_CERT_TTL_MS, usage: 'client' });
    const session = { user: identity.username, remote_addr: conn.clientAddr.address, db: name, db_user: dbUser, db_name: dbName };
    const queries = new PostgresQueryReader((q) => emitSoon(this.deps.audit, { event: 'db.query', ...session, ...q }, conn.log));
    const headers = { [HEADER_DB_CERT]: Buffer.from(cert.toString('pem')).toString('base64'), [HEADER_DB_CA]: Buffer.from(cluster.authorities.db.certPem).toString('base64') };
    await access.serveStream(authorization, {
      dial: async () => {
        const upstream = await tunnels.dial('db', name, db, headers);
        upstream.write(opening.raw);
        return upstream;
      },
      accept: () => conn.socket,
      inspect: (chunk) => queries.feed(chunk),
      fields: { db: name, db_user: dbUser, db_name: dbName, protocol: 'postgres', serial: cert.serialNumber },
    });
  }
}
