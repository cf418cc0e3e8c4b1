import { z } from 'zod';
import type { HostPort } from '../net/addr.js';
import { RESOURCE_NAME } from './fields.js';

/** Every kind of resource Postern reaches; one row each in resources/table.ts. */
export type ResourceKind = 'app' | 'node' | 'db' | 'kube' | 'route';

/** What an agent's join token lets it serve (its host certificate carries these as roles). */
export type AgentRole = 'app' | 'ssh' | 'db';

/** Role fields that list names: OS logins, database users and names, Kubernetes groups. */
export type RoleListField = 'logins' | 'db_users' | 'db_names' | 'kube_groups';

/** What a connection asks to be on a resource: an OS login on a node, a user and database on a db. */
export interface AccessRequest {
  login?: string;
  dbUser?: string;
  dbName?: string;
}

export interface RoleList {
  field: RoleListField;
  /** How the field is written, for role errors. */
  example: string;
  /**
   * Set when a connection names one of these values (a login, a database user): the role whose
   * selector matched the resource must also list the value. Lists without it are granted as they
   * are (Kubernetes groups).
   */
  asked?: { option: keyof AccessRequest; noun: string };
}

/** How an agent serves a kind: its config entries, what it announces for each, and where it connects. */
export interface AgentServed<Entry, Announced> {
  /** The join token type an agent needs to announce this kind. */
  joinRole: AgentRole;
  /** The list under `agent:` in postern.yaml. */
  configKey: string;
  /** The `postern start --roles=agent` flag that adds one entry, its fields, and an example. */
  flag: `--${string}`;
  flagFields: readonly string[];
  flagExample: string;
  /** What the flag does, for --help: "serve an app". */
  flagHelp: string;
  /** One entry of the config list (and of the flag). */
  entry: z.ZodType<Entry>;
  /** What the proxy accepts from an agent for this kind (it comes off the network). */
  announcement: z.ZodType<Announced>;
  /** The agent-side connector: what an entry announces, and the address the agent dials for it. */
  serve(entry: Entry): { resource: Announced; target: HostPort };
}

/** An AgentServed of any entry type, as code that handles every kind sees it. */
export type AnyAgentServed = Omit<AgentServed<unknown, unknown>, 'entry' | 'serve'> & { entry: z.ZodType; serve(entry: never): { resource: unknown; target: HostPort } };

/** One row of the resource table. */
export interface ResourceKindSpec<K extends ResourceKind = ResourceKind> {
  kind: K;
  /** For people: "app", "node", "database". */
  noun: string;
  /** What `postern ctl get` takes. */
  plural: string;
  /** The role field whose selector matches this kind's labels. */
  labelField: `${K}_labels`;
  /** Role fields that list names for this kind. */
  roleLists: readonly RoleList[];
  /** Admin rules name it (`rules: [{ resources: [app], verbs: [list] }]`). */
  admin: boolean;
  /** Served by agents; undefined for kinds the proxy itself holds (routes) or not built yet. */
  agent?: AnyAgentServed;
  /** What `ctl get`, `ctl create -f` and `ctl rm` do with it. */
  ctl: {
    /** A column of `ctl get <plural>` that says where it is: header and value. */
    target?: { header: string; of(announced: Record<string, unknown>): string | undefined };
    /** Why it cannot be created or removed with ctl, and where it is defined instead. */
    definedIn: string;
  };
}

/** An announcement's fields common to every kind, plus the kind's own. */
export function announcementOf<K extends ResourceKind, S extends z.ZodRawShape>(kind: K, shape: S) {
  return z.object({
    kind: z.literal(kind),
    name: z.string().regex(RESOURCE_NAME),
    labels: z.record(z.string().max(63), z.string().max(256)),
    description: z.string().max(1024).optional(),
    ...shape,
  });
}
