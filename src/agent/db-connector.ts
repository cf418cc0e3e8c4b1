import { once } from 'node:events';
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { HostPort } from '../net/addr.js';
import { AUTH_ANSWER, CLIENT, handshakeResponse, packet, parseGreeting, readPacket, sslRequest, type MysqlClientHello } from '../wire/mysql.js';
import { sslRequest as postgresSslRequest } from '../wire/postgres.js';
import { readMessage } from '../wire/read-message.js';

const CONNECT_TIMEOUT_MS = 10_000;
/** Rounds of an authentication exchange (plugin switches, more data) before the agent gives up. */
const MAX_AUTH_ROUNDS = 4;
/** Capabilities that change what later packets look like: the server must have each one the client chose. */
const WIRE_CAPABILITIES = CLIENT.DEPRECATE_EOF | CLIENT.SESSION_TRACK | CLIENT.MULTI_RESULTS | CLIENT.PS_MULTI_RESULTS;
const NOT_TLS = 'the database does not accept TLS; configure it with the lines `postern ctl auth sign-db` prints';

/** What the agent presents to a database: its own key, and the proxy's certificate for one database user. */
export interface DbCredentials {
  keyPem: string;
  certPem: string;
  /** The CA the database's server certificate must chain to. */
  caPem: string;
}

/**
 * A PostgreSQL connection ready for the client's StartupMessage: TCP, the SSLRequest, then TLS
 * with the database user's client certificate, the server certificate checked against the
 * cluster's db CA and the address. The database authenticates the certificate (`hostssl … cert`),
 * so no password is sent or held anywhere.
 */
export async function openPostgres(target: HostPort, creds: DbCredentials): Promise<TLSSocket> {
  return withSocket(target, async (raw) => {
    raw.write(postgresSslRequest());
    const [answer] = (await once(raw, 'data')) as [Buffer];
    raw.pause();
    if (answer[0] !== 0x53 /* S */) throw new Error(NOT_TLS);
    return startTls(raw, target, creds);
  });
}

/**
 * A MySQL or MariaDB session logged in as the client asked (`hello`): the server's greeting, an
 * SSL request, TLS with the database user's client certificate, and a handshake response with no
 * password (the server checks the certificate: `REQUIRE SUBJECT`), following any switch of
 * authentication plugin. `answer` is the server's last word, renumbered to answer the client's
 * own handshake response: OK (`ok`) and the session goes on, or the server's ERR, which the client
 * prints.
 */
export async function openMysql(target: HostPort, creds: DbCredentials, hello: MysqlClientHello): Promise<{ socket: TLSSocket; answer: Buffer; ok: boolean }> {
  return withSocket(target, async (raw) => {
    const greeting = parseGreeting((await readMysqlPacket(raw, 'MySQL server greeting')).payload);
    if (greeting.status === 'invalid') throw new Error(greeting.reason);
    const server = greeting.greeting.capabilities;
    if (!(server & CLIENT.SSL)) throw new Error(NOT_TLS);
    const lacking = hello.capabilities & WIRE_CAPABILITIES & ~server;
    if (lacking) throw new Error(`the database server (${greeting.greeting.serverVersion}) lacks capabilities 0x${lacking.toString(16)} that Postern offers clients; it needs MySQL 5.7 or MariaDB 10.2 or later`);
    // No connection attributes are sent on: they describe the client's program, which the audit log has.
    const fixed = { capabilities: ((hello.capabilities & server) | CLIENT.PROTOCOL_41 | CLIENT.SSL) & ~CLIENT.CONNECT_ATTRS, maxPacketSize: hello.maxPacketSize, charset: hello.charset };
    raw.write(sslRequest(1, fixed));
    const secure = await startTls(raw, target, creds);
    secure.write(handshakeResponse(2, { ...fixed, user: hello.user, ...(hello.database ? { database: hello.database } : {}), authPlugin: greeting.greeting.authPlugin || 'mysql_native_password' }));
    for (let round = 0; round < MAX_AUTH_ROUNDS; round++) {
      const { sequence, payload } = await readMysqlPacket(secure, 'MySQL authentication answer');
      const kind = payload[0];
      if (kind === AUTH_ANSWER.OK || kind === AUTH_ANSWER.ERR) return { socket: secure, answer: packet(2, payload), ok: kind === AUTH_ANSWER.OK };
      // A plugin switch, or caching_sha2_password asking for the password over TLS: the empty one.
      if (kind === AUTH_ANSWER.SWITCH) secure.write(packet(sequence + 1, Buffer.alloc(0)));
      else if (kind === AUTH_ANSWER.MORE_DATA && payload[1] === 4) secure.write(packet(sequence + 1, Buffer.from([0])));
      else if (kind !== AUTH_ANSWER.MORE_DATA) throw new Error(`the database answered the login with packet type 0x${(kind ?? 0).toString(16)}`);
    }
    throw new Error(`the database asked for more than ${MAX_AUTH_ROUNDS} rounds of authentication`);
  });
}

/** A TCP connection to the database, handed to `open`, destroyed when `open` fails. */
async function withSocket<T>(target: HostPort, open: (raw: Socket) => Promise<T>): Promise<T> {
  const raw = connect({ host: target.host, port: target.port, noDelay: true, timeout: CONNECT_TIMEOUT_MS });
  raw.once('timeout', () => raw.destroy(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`)));
  try {
    await once(raw, 'connect');
    return await open(raw);
  } catch (err) {
    raw.destroy();
    throw err;
  }
}

async function startTls(raw: Socket, target: HostPort, creds: DbCredentials): Promise<TLSSocket> {
  raw.setTimeout(0);
  const secure = tlsConnect({ socket: raw, host: target.host, ...(isIP(target.host) ? {} : { servername: target.host }), key: creds.keyPem, cert: creds.certPem, ca: creds.caPem });
  await once(secure, 'secureConnect');
  return secure;
}

async function readMysqlPacket(socket: Socket, what: string): Promise<{ sequence: number; payload: Buffer }> {
  const { read } = await readMessage(socket, (buf) => readPacket(buf), what);
  return read;
}
