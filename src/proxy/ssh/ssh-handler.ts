import type { AuditLog } from '../../audit/audit-log.js';
import type { Authorizer } from '../../auth/authorizer.js';
import type { ClusterState } from '../../auth/cluster-state.js';
import type { LockWatcher } from '../../auth/lock-watcher.js';
import { nodePrincipal, SSH_SESSION_CERT_TTL_MS, sshUserCertificate } from '../../auth/ssh-certificates.js';
import type { IdentityVerifier } from '../../auth/verifier.js';
import { PosternError } from '../../errors/postern-error.js';
import type { ProtocolHandler, RoutedConnection } from '../router.js';
import { readLine } from '../../wire/stream-status.js';
import { relayAuthorized, serveRaw } from '../raw-stream.js';
import type { NodeCatalog } from './node-catalog.js';

/** The client must say which node and login it wants this soon after the handshake. */
const REQUEST_TIMEOUT_MS = 10_000;
const LOGIN = /^[a-z_][a-z0-9_.-]{0,31}$/i;

/**
 * `postern-ssh`: SSH to a node, inside the TLS connection. The client (postern proxy ssh, as an
 * OpenSSH ProxyCommand) sends one line, `{"node", "login", "public_key"}`; the proxy checks the
 * user's certificate, that the node is online, and that a role allows this login on this node,
 * then answers with a certificate for exactly that login on that node (`root@web-1`, valid two
 * minutes: enough to authenticate) and relays the SSH bytes to the node, through its agent or,
 * for a node in proxy.ssh_nodes, straight from the proxy.
 * OpenSSH runs end to end; the proxy never sees inside the session.
 */
export class SshHandler implements ProtocolHandler {
  constructor(private readonly deps: { verifier: IdentityVerifier; authorizer: Authorizer; nodes: NodeCatalog; locks: LockWatcher; audit: AuditLog; cluster: ClusterState }) {}

  handle(conn: RoutedConnection): void {
    serveRaw(conn, 'an SSH connection', () => this.serve(conn));
  }

  private async serve(conn: RoutedConnection): Promise<void> {
    const { verifier, authorizer, nodes, locks, audit, cluster } = this.deps;
    const identity = verifier.verifySocket(conn.socket, 'user');
    const timer = setTimeout(() => conn.socket.destroy(), REQUEST_TIMEOUT_MS);
    const request = await readLine(conn.socket).finally(() => clearTimeout(timer));
    const node = String(request.node ?? '');
    const login = String(request.login ?? '');
    const publicKey = String(request.public_key ?? '');
    if (!LOGIN.test(login)) throw new PosternError('BAD_REQUEST', `"${login}" is not a login name`);
    const resource = await this.online(node);
    const checker = authorizer.checker(identity);
    const decision = checker.checkResource({ kind: 'node', name: node, labels: resource.labels }, { login });
    if (!decision.allow) {
      await audit.emit({ event: 'access.denied', user: identity.username, remote_addr: conn.clientAddr.address, kind: 'node', resource: node, login, reasons: decision.reasons });
      const logins = checker.allowedLogins({ kind: 'node', name: node, labels: resource.labels });
      const may = logins.length ? `you may log in to ${node} as: ${logins.join(', ')}` : `no role of yours allows any login on ${node}`;
      throw new PosternError('ACCESS_DENIED', `${identity.username} may not log in to ${node} as ${login}: ${decision.reasons.join('; ')}; ${may}`);
    }
    const certificate = sshUserCertificate(cluster.ssh.user, {
      publicKey,
      username: identity.username,
      principals: [nodePrincipal(login, node)],
      validBefore: new Date(Math.min(Date.now() + SSH_SESSION_CERT_TTL_MS, identity.expires.getTime())),
      purpose: `ssh ${login}@${node}`,
    });
    const upstream = await nodes.dial(node, resource);
    const started = performance.now();
    let up = 0;
    let down = 0;
    conn.socket.on('data', (d: Buffer) => (up += d.length));
    upstream.on('data', (d: Buffer) => (down += d.length));
    const base = { user: identity.username, remote_addr: conn.clientAddr.address, login, node };
    if (!conn.socket.destroyed) void audit.emit({ event: 'ssh.session.start', ...base });
    relayAuthorized(conn, upstream, locks, identity, { certificate }, () => {
      void audit.emit({ event: 'ssh.session.end', ...base, bytes_up: up, bytes_down: down, duration_ms: Math.round(performance.now() - started) });
    });
  }

  /** The node's announcement, or an error that tells "no such node" from "its agent is offline". */
  private async online(node: string) {
    try {
      return this.deps.nodes.resolve(node);
    } catch (err) {
      if (await this.deps.nodes.known(node)) throw err;
      throw new PosternError('NOT_FOUND', `there is no node "${node}"; \`postern ls\` lists the nodes you may reach`);
    }
  }
}
