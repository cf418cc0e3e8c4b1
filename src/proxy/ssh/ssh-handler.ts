import { callerFromIdentity } from '../../access/caller.js';
import type { Access } from '../../access/access.js';
import type { ClusterState } from '../../auth/cluster-state.js';
import { nodePrincipal, SSH_SESSION_CERT_TTL_MS, sshUserCertificate } from '../../auth/ssh-certificates.js';
import type { IdentityVerifier } from '../../auth/verifier.js';
import { PosternError } from '../../errors/postern-error.js';
import { readLine } from '../../wire/stream-status.js';
import { acceptRaw, serveRaw } from '../raw-stream.js';
import type { ProtocolHandler, RoutedConnection } from '../router.js';
import type { NodeAnnouncement } from '../../resources/node.js';
import type { NodeCatalog } from './node-catalog.js';

/** The client must say which node and login it wants this soon after the handshake. */
const REQUEST_TIMEOUT_MS = 10_000;
export const LOGIN = /^[a-z_][a-z0-9_.-]{0,31}$/i;

/**
 * `postern-ssh`: SSH to a node, inside the TLS connection. The client (postern proxy ssh, as an
 * OpenSSH ProxyCommand) sends one line, `{"node", "login", "public_key"}`; once the access
 * pipeline allows this login on this node, the proxy answers with a certificate for exactly that
 * login on that node (`root@web-1`, valid two minutes: enough to authenticate) and relays the
 * SSH bytes to the node, through its agent or, for a node in proxy.ssh_nodes, straight from the
 * proxy. OpenSSH runs end to end; the proxy never sees inside the session.
 */
export class SshHandler implements ProtocolHandler {
  constructor(private readonly deps: { verifier: IdentityVerifier; access: Access; nodes: NodeCatalog; cluster: ClusterState }) {}

  handle(conn: RoutedConnection): void {
    serveRaw(conn, 'an SSH connection', () => this.serve(conn));
  }

  private async serve(conn: RoutedConnection): Promise<void> {
    const { verifier, access, nodes, cluster } = this.deps;
    const identity = verifier.verifyPeer(conn.socket, 'user');
    const timer = setTimeout(() => conn.socket.destroy(), REQUEST_TIMEOUT_MS);
    const request = await readLine(conn.socket).finally(() => clearTimeout(timer));
    const node = String(request.node ?? '');
    const login = String(request.login ?? '');
    const publicKey = String(request.public_key ?? '');
    if (!LOGIN.test(login)) throw new PosternError('BAD_REQUEST', `"${login}" is not a login name`);
    const caller = callerFromIdentity(identity);
    let resource: NodeAnnouncement | undefined;
    const authorization = await access.authorizeLookup({
      caller,
      target: { kind: 'node', name: node },
      find: async () => {
        resource = await nodes.online(node);
        return { kind: 'node', name: node, labels: resource.labels };
      },
      current: () => nodes.current(node),
      request: { login },
      clientAddr: conn.clientAddr.address,
      log: conn.log,
    });
    if (!authorization.allowed || !resource) throw await this.refusal(authorization.error(`may not log in to ${node} as ${login}`), authorization.subject !== undefined, caller, node, authorization.input.target.labels);
    const found = resource;
    const certificate = sshUserCertificate(cluster.ssh.user, {
      publicKey,
      username: identity.username,
      principals: [nodePrincipal(login, node)],
      validBefore: new Date(Math.min(Date.now() + SSH_SESSION_CERT_TTL_MS, identity.expires.getTime())),
      purpose: `ssh ${login}@${node}`,
    });
    await access.serveStream(authorization, { dial: () => nodes.dial(node, found), accept: () => acceptRaw(conn, { certificate }), fields: { login, node } });
  }

  /** A refusal that also says which logins the person may use on the node, when a role decided it. */
  private async refusal(err: PosternError, decidedByRoles: boolean, caller: Parameters<Access['view']>[0], node: string, labels: Record<string, string>): Promise<PosternError> {
    if (!decidedByRoles || err.code !== 'ACCESS_DENIED') return err;
    const logins = (await this.deps.access.view(caller)).checker.allowedLogins({ kind: 'node', name: node, labels });
    const may = logins.length ? `you may log in to ${node} as: ${logins.join(', ')}` : `no role of yours allows any login on ${node}`;
    return new PosternError(err.code, `${err.message}; ${may}`);
  }
}
