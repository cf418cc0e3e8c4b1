import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { formatHostPort, type HostPort } from '../net/addr.js';
import { listenLocally } from '../net/listen.js';
import { joinStreams } from '../net/pipe.js';
import { alpnOf } from '../wire/protocols.js';
import { readStatus } from '../wire/stream-status.js';
import { connectionError, connectToProxy, type ProxyEndpoint } from './api-client.js';
import type { ListenerTls } from './db-listener-identity.js';
import { ListenerRefusal, openMysql, openPostgres } from './db-opening.js';

export interface LocalProxyOptions {
  /** Where to listen, e.g. 127.0.0.1:8080 (port 0: any free port). */
  listen: HostPort;
  /**
   * The proxy, trusted as the profile trusts it, with the certificate to present; a function is
   * asked at each connection (Connect's gateways: a new login's certificate is used at once).
   */
  endpoint: ProxyEndpoint | (() => ProxyEndpoint);
  /** The TLS server name to ask for (the app's public host). */
  servername: string;
  /**
   * What the connection carries: HTTP for web apps, raw TCP (the proxy answers a status line
   * first), or a session to the database `db` in its protocol (the proxy answers as a database would).
   */
  carries: 'http' | 'tcp' | { db: string; protocol: 'postgres' | 'mysql' };
  /** A database listener's own TLS, which clients must speak with the listener's client certificate (`proxy db` without --tunnel). */
  clientTls?: ListenerTls;
  /** Told about each connection that fails, with the proxy's reason. */
  onError: (err: Error) => void;
  /** What to change when the address cannot be used, for the error (default: `--port`). */
  listenFlag?: string;
}

/**
 * A local listener for programs that cannot speak Postern's TLS themselves (curl without
 * certificates, a browser, redis-cli, psql): each connection it accepts is carried to the proxy
 * over TLS with the right server name, ALPN and certificate, and bytes flow untouched.
 */
export async function startLocalProxy(opts: LocalProxyOptions): Promise<{ server: Server; addr: HostPort; close(): Promise<void> }> {
  const server = createServer({ noDelay: true, allowHalfOpen: true }, (local) => void carry(local, opts));
  const addr = await listenLocally(server, opts.listen, opts.listenFlag ?? '--port');
  return {
    server,
    addr,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function carry(local: Socket, opts: LocalProxyOptions): Promise<void> {
  local.on('error', () => {});
  local.pause();
  let remote: TLSSocket | undefined;
  let endpoint: ProxyEndpoint | undefined;
  try {
    endpoint = typeof opts.endpoint === 'function' ? opts.endpoint() : opts.endpoint;
    const { carries } = opts;
    const opening = typeof carries === 'object' ? await (carries.protocol === 'postgres' ? openPostgres : openMysql)(local, opts.clientTls) : undefined;
    const alpn = carries === 'http' ? 'http/1.1' : alpnOf(carries === 'tcp' ? 'tcp' : carries.protocol);
    remote = connectToProxy(endpoint, { servername: opts.servername, ALPNProtocols: [alpn] });
    await once(remote, 'secureConnect');
    if (remote.alpnProtocol !== alpn) throw new Error(`the proxy at ${formatHostPort(endpoint.proxy)} does not serve ${alpn}; is it a Postern proxy of this version?`);
    if (carries === 'tcp') await readStatus(remote);
    if (typeof carries === 'object' && opening) {
      remote.write(Buffer.concat([Buffer.from(JSON.stringify({ db: carries.db }) + '\n'), opening.first]));
      await opening.finish?.(remote);
    }
    joinStreams(opening?.client ?? local, remote);
  } catch (err) {
    remote?.destroy();
    if (err instanceof ListenerRefusal) return opts.onError(err);
    opts.onError(endpoint ? connectionError(err as NodeJS.ErrnoException, formatHostPort(endpoint.proxy)) : (err as Error));
    local.destroy();
  }
}
