import type { Access } from '../../access/access.js';
import { callerFromIdentity } from '../../access/caller.js';
import type { IdentityVerifier } from '../../auth/verifier.js';
import { PosternError } from '../../errors/postern-error.js';
import type { TunnelRegistry } from '../../tunnel/registry.js';
import { acceptRaw, serveRaw } from '../raw-stream.js';
import type { ProtocolHandler, RoutedConnection } from '../router.js';

/**
 * `postern-tcp`: a raw byte stream to a TCP app, named by the server name `<app>.<public host>`,
 * for a user certificate whose roles allow the app. No HTTP in the path: one status line
 * (wire/stream-status.ts), then the app's bytes, for as long as access holds.
 */
export class TcpHandler implements ProtocolHandler {
  private readonly suffix: string;

  constructor(
    publicHost: string,
    private readonly deps: { verifier: IdentityVerifier; access: Access; tunnels: TunnelRegistry },
  ) {
    this.suffix = `.${publicHost.toLowerCase()}`;
  }

  handle(conn: RoutedConnection): void {
    serveRaw(conn, 'a TCP connection', () => this.serve(conn));
  }

  private async serve(conn: RoutedConnection): Promise<void> {
    const { verifier, access, tunnels } = this.deps;
    const name = this.appName(conn.servername);
    const identity = verifier.verifyPeer(conn.socket, 'user');
    const app = tunnels.target('app', name);
    const authorization = await access.authorizeLookup({
      caller: callerFromIdentity(identity),
      target: { kind: 'app', name },
      find: app.find,
      current: app.current,
      clientAddr: conn.clientAddr.address,
      log: conn.log,
    });
    const found = app.found;
    if (!authorization.allowed || !found) throw authorization.error();
    await access.serveStream(authorization, { dial: () => tunnels.dial('app', name, found), accept: () => acceptRaw(conn), fields: { app: name } });
  }

  private appName(servername: string | undefined): string {
    const name = servername?.toLowerCase();
    if (!name?.endsWith(this.suffix) || name.slice(0, -this.suffix.length).includes('.')) {
      throw new PosternError('BAD_REQUEST', `postern-tcp needs the server name <app>${this.suffix} (got ${servername ?? 'none'})`);
    }
    return name.slice(0, -this.suffix.length);
  }
}
