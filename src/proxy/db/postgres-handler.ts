import type { Access } from '../../access/access.js';
import { callerFromIdentity, type Caller } from '../../access/caller.js';
import { openSeries, type AuditLog } from '../../audit/audit-log.js';
import type { ClusterState } from '../../auth/cluster-state.js';
import type { IdentityVerifier } from '../../auth/verifier.js';
import type { ErrorCode } from '../../errors/codes.js';
import { toPosternError } from '../../errors/postern-error.js';
import type { TunnelRegistry } from '../../tunnel/registry.js';
import { errorResponse, readStartup } from '../../wire/postgres.js';
import { readLine } from '../../wire/stream-status.js';
import type { ProtocolHandler, RoutedConnection } from '../router.js';
import { DbAccess } from './db-access.js';
import { BackendKeyReader, PostgresSessions } from './postgres-cancel.js';
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
  private readonly sessions = new PostgresSessions();
  private readonly db: DbAccess;

  constructor(private readonly deps: { verifier: IdentityVerifier; access: Access; tunnels: TunnelRegistry; cluster: ClusterState; audit: AuditLog; auditQueries: boolean }) {
    this.db = new DbAccess(deps);
  }

  handle(conn: RoutedConnection): void {
    void this.serve(conn).catch((err: unknown) => {
      const e = toPosternError(err);
      conn.log.info('refused a database connection', { reason: e.message, code: e.code });
      if (!conn.socket.destroyed) conn.socket.end(errorResponse({ code: SQLSTATE[e.code] ?? '08006', message: e.message, hint: `Postern error ${e.code}` }));
    });
  }

  private async serve(conn: RoutedConnection): Promise<void> {
    const identity = this.deps.verifier.verifyPeer(conn.socket, 'user');
    const timer = setTimeout(() => conn.socket.destroy(), OPENING_TIMEOUT_MS);
    const { request, opening } = await (async () => {
      const line = await readLine(conn.socket);
      return { request: line, opening: await readStartup(conn.socket) };
    })().finally(() => clearTimeout(timer));
    const name = String(request.db ?? '');
    const caller = callerFromIdentity(identity);
    if (opening.packet.type === 'cancel') return this.cancel(conn, caller, opening.packet, opening.raw);
    const { user: dbUser, database: dbName } = opening.packet;
    const { authorization, db } = await this.db.authorize(conn, caller, name, dbUser, dbName);
    const session = { user: identity.username, remote_addr: conn.clientAddr.address, db: name, db_user: dbUser, db_name: dbName };
    const statements = openSeries(this.deps.audit, { event: 'db.query', ...session }, conn.log);
    const queries = new PostgresQueryReader((q) => statements.append(q));
    let forget = () => {};
    const key = new BackendKeyReader((pid, secret) => (forget = this.sessions.add(pid, secret, { username: identity.username, db, dbUser, dbName })));
    const { headers, serial } = await this.db.credentials(db, dbUser);
    await this.deps.access.serveStream(authorization, {
      dial: async () => {
        const upstream = await this.deps.tunnels.dial('db', name, db, headers);
        upstream.write(opening.raw);
        return upstream;
      },
      accept: () => conn.socket,
      inspect: { ...(this.deps.auditQueries ? { fromClient: (chunk: Buffer) => queries.feed(chunk) } : {}), fromUpstream: (chunk) => key.feed(chunk) },
      fields: { db: name, db_user: dbUser, db_name: dbName, protocol: 'postgres', serial },
      onEnd: () => forget(),
    });
  }

  /**
   * A CancelRequest (psql's Ctrl-C) comes on a connection of its own with only the session's key.
   * It goes on to the database only for a session of the same user, still allowed as it was
   * opened; otherwise it is dropped without a word, as PostgreSQL itself does with a wrong key.
   */
  private async cancel(conn: RoutedConnection, caller: Caller, packet: { pid: number; key: Buffer }, raw: Buffer): Promise<void> {
    const session = this.sessions.find(packet.pid, packet.key);
    if (!session || session.username !== caller.username) {
      conn.log.info('dropped a cancel request that names no session of this user', { user: caller.username });
      return void conn.socket.end();
    }
    const { db } = await this.db.authorize(conn, caller, session.db.name, session.dbUser, session.dbName);
    const { headers } = await this.db.credentials(db, session.dbUser);
    const upstream = await this.deps.tunnels.dial('db', db.name, db, headers);
    upstream.end(raw);
    upstream.resume();
    upstream.once('close', () => conn.socket.end());
    conn.log.info('sent a cancel request on', { user: caller.username, db: db.name });
  }
}
