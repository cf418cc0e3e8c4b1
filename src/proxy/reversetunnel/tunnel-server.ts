import { connect, constants } from 'node:http2';
import type { Access } from '../../access/access.js';
import { callerFromIdentity } from '../../access/caller.js';
import { emitSoon, type AuditLog } from '../../audit/audit-log.js';
import type { IdentityVerifier } from '../../auth/verifier.js';
import { toPosternError } from '../../errors/postern-error.js';
import type { ProtocolHandler, RoutedConnection } from '../router.js';
import { AgentTunnel } from '../../tunnel/agent-tunnel.js';
import type { TunnelRegistry } from '../../tunnel/registry.js';

/**
 * The `postern-reversetunnel` handler: checks the agent's host certificate with the one verifier,
 * then turns the connection into an AgentTunnel in the registry. A refused agent is told why in
 * the GOAWAY it gets, so its log says "certificate expired" rather than "connection closed".
 * A tunnel is held as a live grant: it ends when its certificate expires or a lock comes to
 * cover its agent.
 */
export class TunnelServer implements ProtocolHandler {
  constructor(
    private readonly registry: TunnelRegistry,
    private readonly verifier: IdentityVerifier,
    private readonly access: Access,
    private readonly audit: AuditLog,
  ) {}

  handle(conn: RoutedConnection): void {
    this.serve(conn).catch((err: unknown) => {
      conn.log.error('serving an agent tunnel failed', { err });
      conn.socket.destroy();
    });
  }

  private async serve(conn: RoutedConnection): Promise<void> {
    const remoteAddr = conn.clientAddr.address;
    const decidedAt = this.access.generation;
    let identity;
    try {
      identity = this.verifier.verifySocket(conn.socket, 'host');
      await this.access.admit(callerFromIdentity(identity)); // a lock on the agent keeps it out
    } catch (err) {
      const e = toPosternError(err);
      conn.log.warn('refused an agent tunnel', { reason: e.message });
      emitSoon(this.audit, { event: 'agent.refused', remote_addr: remoteAddr, reason: e.message, code_name: e.code }, conn.log);
      refuse(conn, JSON.stringify(e.toJSON()));
      return;
    }
    const info = { agentId: identity.username, agentName: identity.traits.agent_name?.[0] ?? identity.username, roles: identity.roles, remoteAddr };
    const log = conn.log.child({ agent: info.agentName, agent_id: info.agentId });
    const tunnel = new AgentTunnel(info, conn.socket, log, (t, changed) => void this.registry.update(t, changed), this.registry.proxies);
    this.registry.add(tunnel);
    log.info('agent tunnel connected');
    emitSoon(this.audit, { event: 'agent.connect', user: info.agentName, remote_addr: remoteAddr, agent_id: info.agentId, agent_name: info.agentName }, log);

    const release = this.access.hold({ caller: callerFromIdentity(identity), clientAddr: remoteAddr, revoke: (reason) => tunnel.close(reason) }, decidedAt);
    tunnel.onClose((reason) => {
      release();
      log.info('agent tunnel closed', { reason });
      emitSoon(this.audit, { event: 'agent.disconnect', user: info.agentName, remote_addr: remoteAddr, agent_id: info.agentId, agent_name: info.agentName, reason }, log);
    });
  }
}

/** Speaks just enough HTTP/2 to hand the agent a GOAWAY that carries the reason, then hangs up. */
function refuse(conn: RoutedConnection, reason: string): void {
  const session = connect('http://agent.postern.invalid', { createConnection: () => conn.socket });
  session.on('error', () => {});
  session.goaway(constants.NGHTTP2_REFUSED_STREAM, 0, Buffer.from(reason));
  setTimeout(() => session.destroy(), 500).unref();
}
