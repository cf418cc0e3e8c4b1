import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createSecureContext, TLSSocket } from 'node:tls';
import { CLIENT, errPacket, packet, parseHandshakeResponse, POSTERN_MYSQL_CAPABILITIES, POSTERN_SERVER_VERSION, readMysqlPacket, serverGreeting } from '../wire/mysql.js';
import { errorResponse, parseStartupPacket, readStartup } from '../wire/postgres.js';
import { readMessage } from '../wire/read-message.js';
import type { ListenerTls } from './db-listener-identity.js';

/**
 * A database client's opening at a local listener, read before the proxy is dialled: the client's
 * stream from here on (TLS, when the listener serves TLS), what to send after the `{"db"}` line
 * (PostgreSQL's startup message), and what finishes the opening once the proxy answers (MySQL's
 * handshake, when the listener greeted the client itself).
 */
export interface DbOpening {
  client: Duplex;
  first: Buffer;
  finish?(proxy: Duplex): Promise<void>;
}

/** Refused at the listener: the database client was told why in its protocol. */
export class ListenerRefusal extends Error {}

const NEEDS_TLS = 'this listener needs TLS with the client certificate from `postern db login`';

/**
 * PostgreSQL. Without `tls`, TLS requests are answered `N` (Postern's TLS carries the session).
 * With it, the client must ask for TLS and present the listener's client certificate; a
 * CancelRequest may come without (its key is the session's secret, as PostgreSQL has it).
 */
export async function openPostgres(local: Socket, tls: ListenerTls | undefined): Promise<DbOpening> {
  if (!tls) return { client: local, first: (await readStartup(local)).raw };
  for (;;) {
    const { read, raw } = await readMessage(local, parseStartupPacket, 'PostgreSQL client opening (a startup message)');
    const { type } = read.packet;
    if (type === 'gssenc') {
      local.write('N');
      continue;
    }
    if (type === 'cancel') return { client: local, first: raw };
    if (type === 'startup') {
      local.end(errorResponse({ code: '28000', message: NEEDS_TLS, hint: 'connect with sslmode=verify-full and the sslrootcert, sslcert and sslkey that `postern proxy db` printed' }));
      throw new ListenerRefusal(`a PostgreSQL client came without TLS; ${NEEDS_TLS}`);
    }
    local.write('S');
    const secure = await serverTls(local, tls);
    return { client: secure, first: (await readStartup(secure)).raw };
  }
}

/**
 * MySQL. Without `tls`, nothing is read here: the proxy greets the client. With it, the listener
 * greets the client itself, offering TLS, takes its SSL request and TLS with the client
 * certificate, and reads its handshake response; `finish` then sets the proxy's greeting aside,
 * hands the proxy that response, and the proxy's answer to the client, each renumbered (the TLS
 * step took one packet on the client's side that the proxy never saw).
 */
export async function openMysql(local: Socket, tls: ListenerTls | undefined): Promise<DbOpening> {
  if (!tls) return { client: local, first: Buffer.alloc(0) };
  local.write(serverGreeting({ serverVersion: POSTERN_SERVER_VERSION, connectionId: 0xffff_fff0, scramble: randomBytes(20), capabilities: POSTERN_MYSQL_CAPABILITIES | CLIENT.SSL, authPlugin: 'mysql_native_password' }));
  const request = parseHandshakeResponse((await readMysqlPacket(local, 'MySQL SSL request')).payload);
  if (request.status !== 'ok' || request.response.type !== 'ssl') {
    local.end(errPacket(2, { code: 1045, sqlState: '28000', message: `${NEEDS_TLS}: connect with --ssl-ca, --ssl-cert and --ssl-key as \`postern proxy db\` printed` }));
    throw new ListenerRefusal(`a MySQL client came without TLS; ${NEEDS_TLS}`);
  }
  const secure = await serverTls(local, tls);
  const response = await readMysqlPacket(secure, 'MySQL handshake response');
  return {
    client: secure,
    first: Buffer.alloc(0),
    async finish(proxy) {
      await readMysqlPacket(proxy, 'greeting from the proxy');
      proxy.write(packet(1, response.payload));
      const answer = await readMysqlPacket(proxy, "proxy's answer to the handshake");
      secure.write(packet(response.sequence + 1, answer.payload));
    },
  };
}

/** TLS as the server on a client's socket, requiring a client certificate from the listener's CA. */
async function serverTls(socket: Socket, tls: ListenerTls): Promise<TLSSocket> {
  const secure = new TLSSocket(socket, { isServer: true, secureContext: createSecureContext({ key: tls.keyPem, cert: tls.certPem, ca: tls.caPem }), requestCert: true, rejectUnauthorized: true });
  try {
    await once(secure, 'secure');
  } catch (err) {
    socket.destroy();
    throw new ListenerRefusal(`a database client's TLS failed (${(err as Error).message}); ${NEEDS_TLS}`);
  }
  return secure;
}
