import { once } from 'node:events';
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { HostPort } from '../net/addr.js';
import { AUTH_ANSWER, CLIENT, handshakeResponse, packet, parseAuthSwitch, parseGreeting, readMysqlPacket, sslRequest, type MysqlClientHello } from '../wire/mysql.js';
import { sslRequest as postgresSslRequest } from '../wire/postgres.js';
import { cachingSha2Proof, mysqlNativeProof } from './password-proofs.js';

const CONNECT_TIMEOUT_MS = 10_000;
/** Rounds of an authentication exchange (plugin switches, more data) before the agent gives up. */
const MAX_AUTH_ROUNDS = 4;
/** Capabilities that change what later packets look like: the server must have each one the client chose. */
const WIRE_CAPABILITIES = CLIENT.DEPRECATE_EOF | CLIENT.SESSION_TRACK | CLIENT.MULTI_RESULTS | CLIENT.PS_MULTI_RESULTS;
/** caching_sha2_password's "perform full authentication" (after MORE_DATA): send the password itself. */
const CACHING_SHA2_FULL_AUTH = 0x04;
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
 * SSL request, TLS with the database user's client certificate, and a handshake response,
 * following any switch of authentication plugin. With no `password` the answers are empty (the
 * server checks the certificate: `REQUIRE SUBJECT`); with one (a `password_file`), they prove it
 * for mysql_native_password or caching_sha2_password, and caching_sha2_password's full
 * authentication gets the password itself, over the TLS that checked the server's certificate.
 * `answer` is the server's last word, renumbered to answer the client's own handshake response:
 * OK (`ok`) and the session goes on, or the server's ERR, which the client prints; `server` is
 * what its greeting said of itself and of this connection.
 */
export async function openMysql(target: HostPort, creds: DbCredentials, hello: MysqlClientHello, password = ''): Promise<{ socket: TLSSocket; answer: Buffer; ok: boolean; server: { connectionId: number; version: string } }> {
  return withSocket(target, async (raw) => {
    const greeting = parseGreeting((await readMysqlPacket(raw, 'MySQL server greeting')).payload);
    if (greeting.status === 'invalid') throw new Error(greeting.reason);
    const server = greeting.greeting.capabilities;
    if (!(server & CLIENT.SSL)) throw new Error(NOT_TLS);
    const lacking = hello.capabilities & WIRE_CAPABILITIES & ~server;
    if (lacking) throw new Error(`the database server (${greeting.greeting.serverVersion}) lacks capabilities 0x${lacking.toString(16)} that Postern offers clients; it needs MySQL 5.7 or MariaDB 10.2 or later`);
    // No connection attributes are sent on: they describe the client's program, which the audit log has.
    // SECURE_CONNECTION: the auth response goes with its length (every 4.1 server has it; a proof may hold a zero byte).
    const fixed = { capabilities: ((hello.capabilities & server) | CLIENT.PROTOCOL_41 | CLIENT.SSL | CLIENT.SECURE_CONNECTION) & ~CLIENT.CONNECT_ATTRS, maxPacketSize: hello.maxPacketSize, charset: hello.charset };
    raw.write(sslRequest(1, fixed));
    const secure = await startTls(raw, target, creds);
    const plugin = greeting.greeting.authPlugin || 'mysql_native_password';
    const authResponse = pluginAnswer(plugin, greeting.greeting.scramble, password);
    secure.write(handshakeResponse(2, { ...fixed, user: hello.user, ...(hello.database ? { database: hello.database } : {}), authPlugin: plugin, authResponse }));
    for (let round = 0; round < MAX_AUTH_ROUNDS; round++) {
      const { sequence, payload } = await readMysqlPacket(secure, 'MySQL authentication answer');
      const kind = payload[0];
      if (kind === AUTH_ANSWER.OK || kind === AUTH_ANSWER.ERR) {
        return { socket: secure, answer: packet(2, payload), ok: kind === AUTH_ANSWER.OK, server: { connectionId: greeting.greeting.connectionId, version: greeting.greeting.serverVersion } };
      }
      if (kind === AUTH_ANSWER.SWITCH) {
        const request = parseAuthSwitch(payload);
        secure.write(packet(sequence + 1, pluginAnswer(request.plugin, request.scramble, password)));
      } else if (kind === AUTH_ANSWER.MORE_DATA && payload[1] === CACHING_SHA2_FULL_AUTH) {
        secure.write(packet(sequence + 1, Buffer.from(`${password}\0`)));
      } else if (kind !== AUTH_ANSWER.MORE_DATA) {
        throw new Error(`the database answered the login with packet type 0x${(kind ?? 0).toString(16)}`);
      }
    }
    throw new Error(`the database asked for more than ${MAX_AUTH_ROUNDS} rounds of authentication`);
  });
}

/** What the agent answers an authentication plugin's challenge (`scramble`) with. */
function pluginAnswer(plugin: string, scramble: Buffer, password: string): Buffer {
  if (!password) return Buffer.alloc(0);
  if (plugin === 'mysql_native_password') return mysqlNativeProof(password, scramble);
  if (plugin === 'caching_sha2_password') return cachingSha2Proof(password, scramble);
  throw new Error(`the database asks for the ${plugin || 'pre-4.1'} authentication plugin; with a password file the agent answers mysql_native_password and caching_sha2_password (or use REQUIRE SUBJECT with no password file)`);
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
  try {
    await once(secure, 'secureConnect');
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    throw new Error(`TLS to the database failed (${code ? `${code}: ` : ''}${message}); its server certificate must be for this address and signed by the cluster's db CA (\`postern ctl auth sign-db\`), or by the CA of the database's ca_file`);
  }
  return secure;
}
