import { once } from 'node:events';
import { connect, isIP } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { HostPort } from '../net/addr.js';
import { sslRequest } from '../wire/postgres.js';

const CONNECT_TIMEOUT_MS = 10_000;

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
  const raw = connect({ host: target.host, port: target.port, noDelay: true, timeout: CONNECT_TIMEOUT_MS });
  raw.once('timeout', () => raw.destroy(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`)));
  try {
    await once(raw, 'connect');
    raw.write(sslRequest());
    const [answer] = (await once(raw, 'data')) as [Buffer];
    raw.pause();
    if (answer[0] !== 0x53 /* S */) throw new Error('the database does not accept TLS; configure it with the lines `postern ctl auth sign-db` prints');
    raw.setTimeout(0);
    const secure = tlsConnect({ socket: raw, host: target.host, ...(isIP(target.host) ? {} : { servername: target.host }), key: creds.keyPem, cert: creds.certPem, ca: creds.caPem });
    await once(secure, 'secureConnect');
    return secure;
  } catch (err) {
    raw.destroy();
    throw err;
  }
}
