import type { Duplex } from 'node:stream';
import type { AccessTarget } from '../../access/decide.js';
import { PosternError } from '../../errors/postern-error.js';
import type { HostPort } from '../../net/addr.js';
import { dialTcp } from '../../net/dial.js';
import type { NodeAnnouncement } from '../../resources/node.js';
import type { TunnelRegistry } from '../../tunnel/registry.js';

/** A node the proxy reaches itself (`proxy.ssh_nodes`). */
export interface DirectNode {
  name: string;
  addr: HostPort;
  labels: Record<string, string>;
  description?: string | undefined;
}

/**
 * The SSH nodes a user can reach: those in `proxy.ssh_nodes`, which the proxy dials itself, and
 * those agents announce, reached through their tunnels. A direct node's name is the proxy's
 * own: an agent that announces the same name is not used for it (the configuration is what
 * the operator wrote; an announcement could come from any agent with an ssh token).
 */
export class NodeCatalog {
  private readonly direct: Map<string, { node: DirectNode; resource: NodeAnnouncement }>;

  constructor(
    direct: DirectNode[],
    private readonly tunnels: TunnelRegistry,
  ) {
    this.direct = new Map(direct.map((node) => [node.name, { node, resource: { kind: 'node', name: node.name, labels: node.labels, ...(node.description ? { description: node.description } : {}) } }]));
  }

  /** Every node online now, by name. */
  list(): NodeAnnouncement[] {
    const behindAgents = this.tunnels.list('node').filter((r) => !this.direct.has(r.name));
    return [...[...this.direct.values()].map((d) => d.resource), ...behindAgents].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The node's labels and description, for authorizing; fails fast (AGENT_OFFLINE) when its agent is not connected. */
  resolve(name: string): NodeAnnouncement {
    return this.direct.get(name)?.resource ?? this.tunnels.resolve('node', name);
  }

  /** resolve(), with an error that tells "no such node" from "its agent is offline". */
  async online(name: string): Promise<NodeAnnouncement> {
    try {
      return this.resolve(name);
    } catch (err) {
      if (await this.known(name)) throw err;
      throw new PosternError('NOT_FOUND', `there is no node "${name}"; \`postern ls\` lists the nodes you may reach`);
    }
  }

  /** The node as an access target now, or undefined while it is offline (for re-deciding open sessions). */
  current(name: string): AccessTarget | undefined {
    const resource = this.direct.get(name)?.resource ?? this.tunnels.find('node', name);
    return resource && { kind: 'node', name, labels: resource.labels };
  }

  /** Whether the node exists at all (to say "offline" rather than "unknown"). */
  async known(name: string): Promise<boolean> {
    return this.direct.has(name) || (await this.tunnels.known('node', name));
  }

  /** A byte stream to the node's sshd: straight from the proxy, or through the agent that announced `authorized`. */
  dial(name: string, authorized: NodeAnnouncement): Promise<Duplex> {
    const direct = this.direct.get(name);
    return direct ? dialTcp(direct.node.addr, `node ${name}`) : this.tunnels.dial('node', name, authorized);
  }
}
