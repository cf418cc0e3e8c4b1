import { z } from 'zod';
import { isProxyName } from '../net/addr.js';
import { APP } from '../resources/app.js';
import { DB } from '../resources/db.js';
import { hostPort } from '../resources/fields.js';
import { NODE, nodeEntry } from '../resources/node.js';
import { AGENT_ROLES, type AgentRole } from '../resources/table.js';
import { formatDuration, parseDuration } from './duration.js';

/**
 * The schema of postern.yaml (DESIGN.md §8). Every key has a default or a flag, so an empty file
 * (or none) is a working single-node cluster. Objects are strict: a misspelt key is an error that
 * names the key, never a silently ignored setting.
 */

const duration = (min: number, max: number, example: string) =>
  z.string().transform((s, ctx): number => {
    const ms = parseDuration(s);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${s}" is not a duration; write a number with a unit (ms, s, m, h, d), like ${example}` });
      return z.NEVER;
    }
    if (ms < min || ms > max) {
      ctx.addIssue({ code: 'custom', message: `"${s}" is out of range; use between ${formatDuration(min)} and ${formatDuration(max)}` });
      return z.NEVER;
    }
    return ms;
  });

export const clusterName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/, 'use lower-case letters, digits, dots and dashes (a DNS-like name, 1-63 characters)');

const certificatePair = z.strictObject({
  cert_file: z.string().min(1, 'give the path of a PEM certificate (chain) file'),
  key_file: z.string().min(1, 'give the path of the PEM private key file'),
});

/**
 * A TCP route: `from` is matched on the whole HTTP CONNECT authority, port included (a route for
 * :22 does not match CONNECT host:443); `to` is a target the proxy reaches itself, `app` a TCP
 * app served by an agent. `policy` is checked by the route policy language (parsed at start).
 */
const routeSchema = z
  .strictObject({
    from: z.string().regex(/^tcp\+https:\/\/[a-zA-Z0-9.-]+:\d{1,5}$/, 'write the route as tcp+https://HOST:PORT, with the port clients connect to (e.g. tcp+https://ssh.example.com:22)'),
    to: z.string().regex(/^tcp:\/\/[^/]+:\d{1,5}$/, 'write the target as tcp://HOST:PORT (reached from the proxy)').optional(),
    app: z.string().optional(),
    labels: z.record(z.string(), z.string()).default({}),
    policy: z.array(z.unknown()).optional(),
  })
  .refine((r) => (r.to === undefined) !== (r.app === undefined), { message: 'give exactly one target: to: tcp://HOST:PORT (reached from the proxy) or app: NAME (a TCP app behind an agent)' });
export type RouteConfig = z.output<typeof routeSchema>;

/** ACME (RFC 8555): the proxy's certificate from Let's Encrypt or another ACME CA, validated with TLS-ALPN-01 on the one port. */
const acmeSchema = z.strictObject({
  email: z.string().regex(/^[^@\s]+@[^@\s]+$/, 'give an email address for the ACME account (the CA writes there about expiring certificates)'),
  directory_url: z.string().regex(/^https:\/\/\S+$/, "give the ACME server's directory URL, https://… (Let's Encrypt: https://acme-v02.api.letsencrypt.org/directory)"),
  /** The CA of the ACME server's own HTTPS, for a private or test server (step-ca, pebble); default: the system's. */
  ca_file: z.string().min(1).optional(),
  /** Renew when less than this is left of the certificate's life. */
  renew_before: duration(60_000, 365 * 86_400_000 * 10, '30d').prefault('30d'),
});
export type AcmeConfig = z.output<typeof acmeSchema>;

const proxySchema = z.strictObject({
  listen_addr: hostPort('0.0.0.0:3080').prefault('0.0.0.0:3080'),
  public_addr: hostPort('postern.example.com:443', 443).prefault('postern.localhost:3080'),
  certificates: z.array(certificatePair).default([]),
  acme: acmeSchema.optional(),
  use_proxy_protocol: z.boolean().default(false),
  handshake_timeout: duration(100, 10 * 60_000, '10s').prefault('10s'),
  max_connections: z.number().int().min(1).default(10_000),
  unauthenticated_idle_timeout: duration(100, 10 * 60_000, '20s').prefault('20s'),
  /** Default: perAddressDefault(max_connections), filled in by the loader. */
  max_connections_per_ip: z.number().int().min(1).optional(),
  routes: z.array(routeSchema).default([]),
  /** SSH nodes the proxy reaches itself, with no agent in between. */
  ssh_nodes: z.array(nodeEntry).default([]),
  /** A `db.query` audit event for every statement of every database session; sessions are audited either way. */
  db_query_audit: z.boolean().default(true),
}).refine((p) => !(p.acme && p.certificates.length > 0), { message: 'give either certificates (files) or acme, not both: with acme the proxy gets its certificate itself', path: ['acme'] });

/** `app,ssh:the-token-value`: a join token that does not expire, for agents started by automation. */
const staticToken = z.string().transform((s, ctx) => {
  const i = s.indexOf(':');
  const roles = i > 0 ? s.slice(0, i).split(',').map((r) => r.trim()) : [];
  const value = s.slice(i + 1);
  const bad = roles.filter((r) => !(AGENT_ROLES as readonly string[]).includes(r));
  if (i <= 0 || roles.length === 0 || bad.length > 0) {
    ctx.addIssue({ code: 'custom', message: `write a static token as ROLES:VALUE, with roles from ${AGENT_ROLES.join(', ')} (example: "app,ssh:a-long-random-value")` });
    return z.NEVER;
  }
  if (value.length < 16) {
    ctx.addIssue({ code: 'custom', message: 'a static token must be at least 16 characters long (use a long random value: openssl rand -hex 24)' });
    return z.NEVER;
  }
  return { roles: roles as AgentRole[], value };
});

const authSchema = z.strictObject({
  second_factor: z.enum(['otp', 'off'], { error: 'use otp (a TOTP app, the default) or off (password only)' }).default('otp'),
  cert_ttl: duration(60_000, 7 * 86_400_000, '12h').prefault('12h'),
  /** How long agents' host certificates live; agents renew them at two thirds of that. */
  host_cert_ttl: duration(5_000, 30 * 86_400_000, '7d').prefault('7d'),
  tokens: z.array(staticToken).default([]),
});

/** An agent's name: what the proxy accepts at join, and safe as one path component (never `.` or `..`). */
export const AGENT_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/;
export const AGENT_NAME_RULE = 'use letters, digits, dots, dashes and underscores, starting with a letter or digit (1-63 characters)';

const agentSchema = z.strictObject({
  /** The proxy to dial, host:port. */
  proxy: z.string({ error: 'the agent needs the proxy to dial: give --proxy host:port (or agent.proxy in postern.yaml)' }).pipe(hostPort('postern.example.com:443', 443)),
  token: z.string().min(1).optional(),
  ca_pin: z.string().regex(/^sha256:[0-9a-fA-F]{64}$/, 'a pin is sha256: and 64 hex digits, as `postern ctl status` prints it').optional(),
  /** How this agent is listed (default: the host name); also names its directory, <data_dir>/agents/<name>/. */
  name: z.string().regex(AGENT_NAME, AGENT_NAME_RULE).optional(),
  // One list per kind of resource agents serve, each checked by its row's entry schema.
  [APP.agent.configKey]: z.array(APP.agent.entry).default([]),
  [NODE.agent.configKey]: z.array(NODE.agent.entry).default([]),
  [DB.agent.configKey]: z.array(DB.agent.entry).default([]),
}).superRefine((agent, ctx) => {
  // The proxy's own host and the names under it are the proxy's: an app there would take over its pages.
  agent.apps.forEach((app, i) => {
    if (app.public_addr && isProxyName(app.public_addr, agent.proxy.host)) {
      ctx.addIssue({ code: 'custom', path: ['apps', i, 'public_addr'], message: `${app.public_addr} is the proxy's own name or one under it (apps get <name>.${agent.proxy.host} without public_addr); choose a name outside ${agent.proxy.host}` });
    }
  });
});
export type AgentConfig = z.output<typeof agentSchema>;

/** An agent's settings made in code (the demo agent), checked and filled in as postern.yaml's are. */
export function agentConfig(input: z.input<typeof agentSchema>): AgentConfig {
  return agentSchema.parse(input);
}

/**
 * Where cluster state lives; storage/open.ts turns the type into a backend. `sqlite` (the
 * default) is a file in data_dir; `postgres` is one database that several proxies share, named by
 * a URL in the config or, to keep a password out of it, in a file of its own.
 */
const storageSchema = z
  .strictObject({
    type: z.enum(['sqlite', 'postgres'], { error: (iss) => `${JSON.stringify(iss.input)} is not a storage type of this version; use sqlite or postgres` }).default('sqlite'),
    conn_string: z
      .string()
      .regex(/^postgres(ql)?:\/\/\S+$/, 'write a PostgreSQL URL: postgres://USER@HOST:5432/DATABASE?sslmode=verify-full')
      .optional(),
    /** A file holding conn_string (its first line), for a password kept out of the config: readable by Postern's user only. */
    conn_string_file: z.string().min(1, 'give the path of a file holding the PostgreSQL URL').optional(),
  })
  .superRefine((storage, ctx) => {
    const given = [storage.conn_string, storage.conn_string_file].filter((v) => v !== undefined).length;
    if (storage.type === 'postgres' && given !== 1) {
      ctx.addIssue({ code: 'custom', message: 'postgres storage needs exactly one of conn_string (postgres://USER@HOST:5432/DATABASE) or conn_string_file (a file holding it)' });
    }
    if (storage.type === 'sqlite' && given > 0) {
      ctx.addIssue({ code: 'custom', message: 'conn_string and conn_string_file are for type: postgres; sqlite keeps its file in data_dir' });
    }
  });
export type StorageConfig = z.output<typeof storageSchema>;

export const configSchema = z.strictObject({
  version: z.literal('v1', { error: 'the only config version is v1; write `version: v1`' }).default('v1'),
  cluster_name: clusterName.optional(),
  data_dir: z.string().min(1).default('./postern-data'),
  diag_addr: hostPort('127.0.0.1:3000').optional(),
  log: z
    .strictObject({
      level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
      format: z.enum(['auto', 'json', 'text']).default('auto'),
    })
    .prefault({}),
  /** What this process runs. Default: auth and proxy, plus agent when the file has an agent section. */
  roles: z.array(z.enum(['auth', 'proxy', 'agent'], { error: 'roles are auth, proxy and agent' })).min(1).optional(),
  auth: authSchema.prefault({}),
  storage: storageSchema.prefault({}),
  proxy: proxySchema.prefault({}),
  agent: agentSchema.optional(),
});

/**
 * Connections at once from one client address before any proves who is on it: 200, or a quarter
 * of max_connections on a small proxy, so one client never holds every connection.
 */
export function perAddressDefault(maxConnections: number): number {
  return Math.max(1, Math.min(200, Math.floor(maxConnections / 4)));
}

export type ServiceRole = 'auth' | 'proxy' | 'agent';
/** The checked config with every default filled in: `cluster_name` from the public host, `roles` from what is configured. */
export type PosternConfig = Omit<z.output<typeof configSchema>, 'cluster_name' | 'roles' | 'proxy'> & {
  cluster_name: string;
  roles: ServiceRole[];
  proxy: z.output<typeof proxySchema> & { max_connections_per_ip: number };
};
export type RawConfig = z.input<typeof configSchema>;
