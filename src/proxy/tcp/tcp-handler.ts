import type { AuditLog } from '../../audit/audit-log.js';
import type { Authorizer } from '../../auth/authorizer.js';
import type { LockWatcher } from '../../auth/lock-watcher.js';
import type { IdentityVerifier } from '../../auth/verifier.js';
import { PosternError, toPosternError } from '../../errors/postern-error.js';
import type { TunnelRegistry } from '../../tunnel/registry.js';
import { joinStreams } from '../pipe.js';
import type { ProtocolHandler, RoutedConnection } from '../router.js';
import { writeOk, writeRefusal } from './stream-status.js';

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
    void this.serve(conn).catch((err: unknown) => {
      const e = toPosternError(err);
      conn.log.info('refused a TCP connection', { reason: e.message, code: e.code });
      if (!conn.socket.destroyed) writeRefusal(conn.socket, e);
    });
  }

  private async serve(conn: RoutedConnection): Promise<void> {
    const { verifier, authorizer, tunnels, locks, audit } = this.deps;
    const identity = verifier.verifySocket(conn.socket, 'user');
    const name = this.appName(conn.servername);
    const resource = tunnels.resolve('app', name);
    const decision = authorizer.checker(identity).checkResource({ kind: 'app', name, labels: resource.labels });
    if (!decision.allow) {
      await audit.emit({ event: 'access.denied', user: identity.username, remote_addr: conn.clientAddr.address, kind: 'app', resource: name, reasons: decision.reasons });
      throw new PosternError('ACCESS_DENIED', `${identity.username} may not reach app "${name}": ${decision.reasons.join('; ')}`);
    }
    const upstream = await tunnels.dial('app', name);
    if (conn.socket.destroyed) return void upstream.destroy();
    writeOk(conn.socket);
    const untrack = locks.track({ subject: identity, end: () => conn.socket.destroy() });
    joinStreams(conn.socket, upstream, untrack);
  }

  private appName(servername: string | undefined): string {
    const name = servername?.toLowerCase();
    if (!name?.endsWith(this.suffix) || name.slice(0, -this.suffix.length).includes('.')) {
      throw new PosternError('BAD_REQUEST', `postern-tcp needs the server name <app>${this.suffix} (got ${servername ?? 'none'})`);
    }
    return name.slice(0, -this.suffix.length);
  }
}
