import { z } from 'zod';
import { description, hostPort, labelMap, resourceName } from './fields.js';
import { announcementOf, type AgentServed, type ResourceKindSpec } from './kind.js';

/** An SSH node: its name (`postern ssh root@web-1`), where its sshd listens, and labels for roles. */
export const nodeEntry = z.strictObject({ name: resourceName, addr: hostPort('127.0.0.1:22', 22), labels: labelMap, description });
export type NodeEntry = z.output<typeof nodeEntry>;

export const nodeAnnouncement = announcementOf('node', {});
export type NodeAnnouncement = z.output<typeof nodeAnnouncement>;

const agent = {
  joinRole: 'ssh',
  configKey: 'ssh',
  flag: '--ssh',
  flagFields: ['name', 'addr', 'description'],
  flagExample: 'name=web-1,addr=127.0.0.1:22,labels=env=prod',
  flagHelp: 'serve an SSH node',
  entry: nodeEntry,
  announcement: nodeAnnouncement,
  serve: (node) => ({ resource: { kind: 'node', name: node.name, labels: node.labels, ...(node.description !== undefined ? { description: node.description } : {}) }, target: node.addr }),
} as const satisfies AgentServed<NodeEntry, NodeAnnouncement>;

/** SSH nodes: behind agents, or in proxy.ssh_nodes where the proxy reaches them itself. */
export const NODE = {
  kind: 'node',
  noun: 'node',
  plural: 'nodes',
  labelField: 'node_labels',
  roleLists: [{ field: 'logins', example: '[ubuntu, "{{internal.logins}}"]', asked: { option: 'login', noun: 'login' } }],
  admin: true,
  agent,
  ctl: { definedIn: "announced by agents (agent.ssh or --ssh) or listed in the proxy's proxy.ssh_nodes; change it there" },
} as const satisfies ResourceKindSpec<'node'>;
