import type { AuditLog } from '../../audit/audit-log.js';
import type { Authorizer } from '../../auth/authorizer.js';
import type { LockWatcher } from '../../auth/lock-watcher.js';
import type { IdentityVerifier } from '../../auth/verifier.js';
import { PosternError } from '../../errors/postern-error.js';
import type { TunnelRegistry } from '../../tunnel/registry.js';
import type { ProtocolHandler, RoutedConnection } from '../router.js';
import { relayAuthorized, serveRaw } from '../raw-stream.js';

/**
 * `postern-tcp`: a raw byte stream to a TCP app, named by the server name `<app>.<public host>`,
 * for a user certificate whose roles allow the app. No HTTP in the path: one status line (see
 * stream-status.ts), then the app's bytes. The connection ends when a lock covers its user.
 */
export class TcpHandler implements ProtocolHandler {
  private readonly suffix: string;

  constructor(
    publicHost: string,
    private readonly deps: { verifier: IdentityVerifier; authorizer: Authorizer; tunnels: TunnelRegistry; locks: LockWatcher; audit: AuditLog },
  ) {
    this.suffix = `.${publicHost.toLowerCase()}`;
  }

  handle(conn: RoutedConnection): void {
    serveRaw(conn, 'a TCP connection', () => this.serve(conn));
  }

  private async serve(conn: RoutedConnection): Promise<void> {
    const { verifier, authorizer, tunnels, locks, audit } = this.deps;
    const name = this.appName(conn.servername);
    const identity = verifier.verifySocket(conn.socket, 'user', { kind: 'app', name });
    const resource = tunnels.resolve('app', name);
    const decision = authorizer.checker(identity).checkResource({ kind: 'app', name, labels: resource.labels });
    if (!decision.allow) {
      await audit.emit({ event: 'access.denied', user: identity.username, remote_addr: conn.clientAddr.address, kind: 'app', resource: name, reasons: decision.reasons });
      throw new PosternError('ACCESS_DENIED', `${identity.username} may not reach app "${name}": ${decision.reasons.join('; ')}`);
    }
    relayAuthorized(conn, await tunnels.dial('app', name, resource), locks, identity);
  }

  private appName(servername: string | undefined): string {
    const name = servername?.toLowerCase();
    if (!name?.endsWith(this.suffix) || name.slice(0, -this.suffix.length).includes('.')) {
      throw new PosternError('BAD_REQUEST', `postern-tcp needs the server name <app>${this.suffix} (got ${servername ?? 'none'})`);
    }
    return name.slice(0, -this.suffix.length);
  }
}
