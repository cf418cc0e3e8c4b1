import { z } from 'zod';
import { APP, appAnnouncement, type AppAnnouncement } from './app.js';
import { DB, dbAnnouncement, type DbAnnouncement } from './db.js';
import type { AgentRole, ResourceKind, ResourceKindSpec } from './kind.js';
import { KUBE } from './kube.js';
import { NODE, nodeAnnouncement, type NodeAnnouncement } from './node.js';
import { ROUTE } from './route.js';

export type { AccessRequest, AgentRole, ResourceKind, ResourceKindSpec, RoleListField } from './kind.js';

/**
 * The resource table: one row per kind of resource (its file says what it is). Everything that
 * differs by kind reads it: the role fields and admin rules (policy), what agents may announce
 * and with which join token, the agent's config sections and flags, where online resources are
 * stored, and how `postern ctl` lists them. Adding a kind is a row here, and a folder for its
 * protocol handler.
 */
export const RESOURCE_TABLE = [APP, NODE, DB, KUBE, ROUTE] as const satisfies readonly ResourceKindSpec[];

export const RESOURCE_KINDS: readonly ResourceKind[] = RESOURCE_TABLE.map((row) => row.kind);

export function kindSpec(kind: ResourceKind): ResourceKindSpec {
  return RESOURCE_TABLE.find((row) => row.kind === kind)!;
}

/** The kind `ctl get` names by its plural or singular form. */
export function kindByName(name: string): ResourceKindSpec | undefined {
  return RESOURCE_TABLE.find((row) => row.kind === name || row.plural === name);
}

/** The rows agents serve, and the join token types they need. */
export const AGENT_KINDS = RESOURCE_TABLE.filter((row): row is Extract<(typeof RESOURCE_TABLE)[number], { agent: object }> => 'agent' in row);
export const AGENT_ROLES: readonly AgentRole[] = AGENT_KINDS.map((row) => row.agent.joinRole);

/** What agents announce, each kind with its own fields. */
export const announcedResource = z.discriminatedUnion('kind', [appAnnouncement, nodeAnnouncement, dbAnnouncement]);
export type AnnouncedResource = AppAnnouncement | NodeAnnouncement | DbAnnouncement;
export type AnnouncedKind = AnnouncedResource['kind'];

/** Which join-token role lets an agent serve each announced kind (its host certificate lists its roles). */
export function joinRoleOf(kind: AnnouncedKind): AgentRole {
  return AGENT_KINDS.find((row) => row.kind === kind)!.agent.joinRole;
}

/**
 * The announced resources the proxy takes from an agent: well-formed, and of a kind its
 * certificate's roles allow (a token for SSH nodes does not let the agent publish apps). The
 * rest are left out, each with the reason, for the log.
 */
export function acceptResources(announced: unknown[], roles: readonly string[]): { accepted: AnnouncedResource[]; refused: string[] } {
  const accepted: AnnouncedResource[] = [];
  const refused: string[] = [];
  announced.forEach((raw, i) => {
    const parsed = announcedResource.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      refused.push(`resource ${i + 1}: ${issue.path.join('.') || '(entry)'}: ${issue.message}`);
      return;
    }
    const r = parsed.data;
    const role = joinRoleOf(r.kind);
    if (!roles.includes(role)) refused.push(`${r.kind} "${r.name}": the agent's certificate allows ${roles.join(', ') || 'nothing'}, not ${role}; join it with a token of type ${role}`);
    else accepted.push(r);
  });
  return { accepted, refused };
}

const announcementKeys = new WeakMap<AnnouncedResource, string>();

/**
 * An announcement as a string that is equal for equal announcements, whatever their keys' order.
 * Announcements are never changed once parsed (a new one replaces them), so the key is kept.
 */
export function announcementKey(resource: AnnouncedResource | undefined): string {
  if (!resource) return '';
  let key = announcementKeys.get(resource);
  if (key === undefined) {
    key = JSON.stringify(resource, (_name, value: unknown) =>
      value && typeof value === 'object' && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b))) : value,
    );
    announcementKeys.set(resource, key);
  }
  return key;
}

/**
 * Where storage keeps what agents serve, for every proxy, `ctl` and the UI: an online record per
 * agent serving a resource (leased: it expires with the agent's heartbeats), and a record that it
 * was ever announced (so "offline" can be told from "no such thing").
 */
export const RESOURCE_KEYS = {
  /** Each proxy holding a tunnel of the agent writes its own (many proxies, one store). */
  online: (kind: ResourceKind, name: string, agentId: string, proxyId: string) => `/resources/${kind}/${name}/${agentId}/${proxyId}`,
  onlinePrefix: (kind: ResourceKind, name?: string) => `/resources/${kind}/${name === undefined ? '' : `${name}/`}`,
  seen: (kind: ResourceKind, name: string) => `/seen/${kind}/${name}`,
  agent: (id: string, proxyId: string) => `/agents/${id}/${proxyId}`,
  agentPrefix: '/agents/',
};
