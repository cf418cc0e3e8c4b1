import type { Duplex } from 'node:stream';
import type { HostPort } from '../../net/addr.js';
import { dialTcp } from '../../net/dial.js';
import type { AnnouncedResource } from '../../resources/table.js';
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
  private readonly direct: Map<string, { node: DirectNode; resource: AnnouncedResource }>;

  constructor(
    direct: DirectNode[],
    private readonly tunnels: TunnelRegistry,
  ) {
    this.direct = new Map(direct.map((node) => [node.name, { node, resource: { kind: 'node', name: node.name, labels: node.labels, ...(node.description ? { description: node.description } : {}) } }]));
  }

  /** Every node online now, by name. */
  list(): AnnouncedResource[] {
    const behindAgents = this.tunnels.list('node').filter((r) => !this.direct.has(r.name));
    return [...[...this.direct.values()].map((d) => d.resource), ...behindAgents].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The node's labels and description, for authorizing; fails fast (AGENT_OFFLINE) when its agent is not connected. */
  resolve(name: string): AnnouncedResource {
    return this.direct.get(name)?.resource ?? this.tunnels.resolve('node', name);
  }

  /** Whether the node exists at all (to say "offline" rather than "unknown"). */
  async known(name: string): Promise<boolean> {
    return this.direct.has(name) || (await this.tunnels.known('node', name));
  }

  /** A byte stream to the node's sshd: straight from the proxy, or through the agent that announced `authorized`. */
  dial(name: string, authorized: AnnouncedResource): Promise<Duplex> {
    const direct = this.direct.get(name);
    return direct ? dialTcp(direct.node.addr, `node ${name}`) : this.tunnels.dial('node', name, authorized);
  }
}
