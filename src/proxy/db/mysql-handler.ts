import { randomBytes, randomInt } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Access, StreamStop } from '../../access/access.js';
import { callerFromIdentity } from '../../access/caller.js';
import { openSeries, type AuditLog } from '../../audit/audit-log.js';
import type { ClusterState } from '../../auth/cluster-state.js';
import type { IdentityVerifier } from '../../auth/verifier.js';
import type { ErrorCode } from '../../errors/codes.js';
import { PosternError, toPosternError } from '../../errors/postern-error.js';
import type { Logger } from '../../log/logger.js';
import type { TunnelRegistry } from '../../tunnel/registry.js';
import { AUTH_ANSWER, COM, errMessage, errPacket, okPacket, packet, POSTERN_MYSQL_CAPABILITIES, POSTERN_SERVER_VERSION, parseHandshakeResponse, readMysqlPacket, readPacket, serverGreeting, type MysqlClientHello } from '../../wire/mysql.js';
import { readMessage } from '../../wire/read-message.js';
import { readLine } from '../../wire/stream-status.js';
import { HEADER_DB_CONNECTION_ID, HEADER_DB_MYSQL_CLIENT, HEADER_DB_SERVER_VERSION } from '../../wire/tunnel.js';
import type { ProtocolHandler, RoutedConnection } from '../router.js';
import { DbAccess } from './db-access.js';
import { MysqlCommandReader } from './mysql-commands.js';

/** The client must say which database, and answer the greeting, this soon after the handshake. */
const OPENING_TIMEOUT_MS = 10_000;
/**
 * The greeting's connection id is the proxy's, not the server's thread's (the server is reached
 * later). Clients send `KILL QUERY <id>` on Ctrl-C (on a new connection): the proxy sends that on
 * as the server's id of the session (see kill()). Ids far above any real thread's keep the two
 * apart, and a KILL of one this proxy did not make fails at the server ("unknown thread")
 * instead of reaching someone else's session.
 */
const FIRST_UNLIKELY_ID = 0x8000_0000;
/** A session open through this proxy, by the connection id its greeting gave the client. */
interface MysqlSession {
  username: string;
  db: string;
  dbUser: string;
  /** The server's id for it, once the agent has told (agents before that header do not). */
  serverId?: number;
}
/** MySQL's error for each refusal, so clients print it as they print the server's own (1045: access denied). */
const MYSQL_ERROR: Partial<Record<ErrorCode, { code: number; sqlState: string }>> = {
  ACCESS_DENIED: { code: 1045, sqlState: '28000' },
  LOCKED: { code: 1045, sqlState: '28000' },
  MFA_REQUIRED: { code: 1045, sqlState: '28000' },
  UNAUTHENTICATED: { code: 1045, sqlState: '28000' },
  CERT_EXPIRED: { code: 1045, sqlState: '28000' },
  BAD_REQUEST: { code: 1043, sqlState: '08S01' },
  NOT_IMPLEMENTED: { code: 1235, sqlState: '42000' },
};
/** ER_UNKNOWN_ERROR, for the rest (an agent offline, a database unreachable). */
const OTHER_ERROR = { code: 1105, sqlState: 'HY000' };

/**
 * `postern-mysql`: a MySQL or MariaDB session inside the TLS connection. The client (`postern
 * proxy db`'s local listener) sends one line, `{"db": NAME}`; the proxy greets the database
 * client as a server would, and reads its handshake response for the user (and schema). The
 * access pipeline decides the database and that database user (MySQL has no database names
 * apart from schemas, which roles do not restrict). Allowed: the proxy makes a certificate for the
 * database user, for the key of the agent serving the database; the agent logs in over TLS with
 * it, as the client asked, and answers the client's handshake with the server's answer. Bytes then
 * flow both ways for as long as access holds, every statement in the audit log. Refused: the
 * client gets an ERR packet with the reasons, which mysql and mariadb print.
 */
export class MysqlHandler implements ProtocolHandler {
  private readonly db: DbAccess;
  private readonly sessions = new Map<number, MysqlSession>();
  /** Each database's server version as its agent last told it: the next greetings show it (the first shows Postern's). */
  private readonly versions = new Map<string, string>();

  constructor(private readonly deps: { verifier: IdentityVerifier; access: Access; tunnels: TunnelRegistry; cluster: ClusterState; audit: AuditLog; auditQueries: boolean }) {
    this.db = new DbAccess(deps);
  }

  handle(conn: RoutedConnection): void {
    // The packet a refusal answers with: the greeting is 0 and the client's response 1.
    const sequence = { next: 0 };
    void this.serve(conn, sequence).catch((err: unknown) => {
      const e = toPosternError(err);
      conn.log.info('refused a database connection', { reason: e.message, code: e.code });
      if (!conn.socket.destroyed) conn.socket.end(errPacket(sequence.next, { ...(MYSQL_ERROR[e.code] ?? OTHER_ERROR), message: `${e.message} (Postern error ${e.code})` }));
    });
  }

  private async serve(conn: RoutedConnection, sequence: { next: number }): Promise<void> {
    const identity = this.deps.verifier.verifyPeer(conn.socket, 'user');
    const timer = setTimeout(() => conn.socket.destroy(), OPENING_TIMEOUT_MS);
    let connectionId: number;
    do connectionId = randomInt(FIRST_UNLIKELY_ID, 0x1_0000_0000);
    while (this.sessions.has(connectionId));
    const { request, response } = await (async () => {
      const line = await readLine(conn.socket);
      const serverVersion = this.versions.get(String(line.db ?? '')) ?? POSTERN_SERVER_VERSION;
      conn.socket.write(serverGreeting({ serverVersion, connectionId, scramble: randomBytes(20), capabilities: POSTERN_MYSQL_CAPABILITIES, authPlugin: 'mysql_native_password' }));
      sequence.next = 2;
      const { read } = await readMessage(conn.socket, (buf) => readPacket(buf), 'MySQL handshake response');
      return { request: line, response: parseHandshakeResponse(read.payload) };
    })().finally(() => clearTimeout(timer));
    if (response.status === 'invalid') throw new PosternError('BAD_REQUEST', `not a MySQL handshake response: ${response.reason}`);
    if (response.response.type === 'ssl') throw new PosternError('BAD_REQUEST', "the client asked for TLS, which Postern's own TLS already gives: connect without it (mysql --ssl-mode=DISABLED, mariadb --skip-ssl)");
    const { user: dbUser, database, capabilities, maxPacketSize, charset } = response.response;
    const name = String(request.db ?? '');
    const { authorization, db } = await this.db.authorize(conn, callerFromIdentity(identity), name, dbUser);
    const session = { user: identity.username, remote_addr: conn.clientAddr.address, db: name, db_user: dbUser, ...(database ? { db_name: database } : {}) };
    // Read with query audit off too: it is what stops COM_CHANGE_USER and carries out Ctrl-C.
    const statements = this.deps.auditQueries ? openSeries(this.deps.audit, { event: 'db.query', ...session }, conn.log) : undefined;
    const commands = new MysqlCommandReader((q) => statements?.append(q), (id) => this.sessions.has(id));
    const { headers, serial } = await this.db.credentials(db, dbUser);
    const hello: MysqlClientHello = { capabilities: capabilities & POSTERN_MYSQL_CAPABILITIES, maxPacketSize, charset, user: dbUser, ...(database ? { database } : {}) };
    headers[HEADER_DB_MYSQL_CLIENT] = Buffer.from(JSON.stringify(hello)).toString('base64');
    const opened: MysqlSession = { username: identity.username, db: name, dbUser };
    this.sessions.set(connectionId, opened);
    const dial = (answered?: (told: IncomingHttpHeaders) => void) => this.deps.tunnels.dial('db', name, db, headers, answered);
    await this.deps.access.serveStream(authorization, {
      dial: () =>
        dial((told) => {
          const serverId = Number(told[HEADER_DB_CONNECTION_ID]);
          if (Number.isSafeInteger(serverId)) opened.serverId = serverId;
          const version = told[HEADER_DB_SERVER_VERSION];
          if (typeof version === 'string' && version) this.versions.set(name, version);
        }),
      accept: () => conn.socket,
      inspect: {
        fromClient: (chunk) => {
          const stop = commands.fromClient(chunk);
          if (!stop) return undefined;
          if ('refused' in stop) return { reason: stop.refused, answer: errPacket(1, { code: 1045, sqlState: '28000', message: stop.refused }) };
          return this.kill(stop.kill, opened, () => dial(), conn.log);
        },
        // The server's answers only name prepared statements for the audit.
        ...(this.deps.auditQueries ? { fromUpstream: (chunk: Buffer) => commands.fromServer(chunk) } : {}),
      },
      fields: { db: name, db_user: dbUser, ...(database ? { db_name: database } : {}), protocol: 'mysql', serial },
      onEnd: () => this.sessions.delete(connectionId),
    }).catch((err: unknown) => {
      this.sessions.delete(connectionId);
      throw err;
    });
  }

  /**
   * A client's `KILL [QUERY] <id>` of a session this proxy greeted (the mysql client's Ctrl-C,
   * sent on a connection of its own). The server knows the session by its own id, so the proxy
   * sends the KILL on with that id over a new connection as the same database user, allowed now
   * as this one is; only the session's own Postern user and database user may (as MySQL lets a
   * user kill their own threads). The asking connection gets OK, or MySQL's "not owner" error, and
   * ends, as it would after the mysql client's KILL.
   */
  private kill(kill: { connectionId: number; query: boolean }, asking: MysqlSession, dial: () => Promise<Duplex>, log: Logger): StreamStop {
    const target = this.sessions.get(kill.connectionId);
    const statement = (id: number) => `KILL ${kill.query ? 'QUERY ' : ''}${id}`;
    if (!target || target.username !== asking.username || target.db !== asking.db || target.dbUser !== asking.dbUser || target.serverId === undefined) {
      const message = target?.serverId === undefined && target ? `the agent serving ${target.db} did not say the server's id for connection ${kill.connectionId} (upgrade it)` : `You are not owner of thread ${kill.connectionId}`;
      return { reason: `${statement(kill.connectionId)}: ${message}`, answer: errPacket(1, { code: 1095, sqlState: 'HY000', message }) };
    }
    const sent = statement(target.serverId);
    void sendKill(dial, sent).then(
      (answer) => log.info('sent a client\'s KILL on with the server\'s id of the session', { user: asking.username, db: asking.db, statement: sent, answer }),
      (err: unknown) => log.warn('could not send a client\'s KILL on to the database', { user: asking.username, db: asking.db, statement: sent, err }),
    );
    return { reason: `${statement(kill.connectionId)}, sent on as ${sent}`, answer: okPacket(1) };
  }
}

/** Runs one statement on a new session (the agent has logged in: its first packet is the server's OK) and returns what the server said. */
async function sendKill(dial: () => Promise<Duplex>, statement: string): Promise<string> {
  const upstream = await dial();
  try {
    const login = await readMysqlPacket(upstream, 'the database login');
    if (login.payload[0] !== AUTH_ANSWER.OK) return `the login failed: ${errMessage(login.payload)}`;
    upstream.write(packet(0, Buffer.concat([Buffer.from([COM.QUERY]), Buffer.from(statement)])));
    const answer = await readMysqlPacket(upstream, `the answer to ${statement}`);
    return answer.payload[0] === AUTH_ANSWER.OK ? 'OK' : errMessage(answer.payload);
  } finally {
    upstream.destroy();
  }
}
