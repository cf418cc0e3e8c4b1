import { stringify } from 'yaml';
import { z } from 'zod';
import type { AuditEvent } from '../audit/audit-log.js';
import { AUDIT_EVENTS, type AuditEventType } from '../audit/events.js';
import type { AuthService } from '../auth/auth-service.js';
import { parseAgentRoles, type JoinToken } from '../auth/join-tokens.js';
import { didYouMean } from '../errors/did-you-mean.js';
import { describeLock, type Lock } from '../auth/locks.js';
import { hashPassword, passwordProblem } from '../auth/password.js';
import { dbServerCertificate, dbServerConfig } from '../auth/db-certificates.js';
import { parsePublicKeyLine } from '../pki/ssh.js';
import { knownHostsLine, SSH_HOST_CERT_TTL_MS, sshdConfigLines, sshHostCertificate } from '../auth/ssh-certificates.js';
import { newTotpSecret, totpUri } from '../auth/totp.js';
import type { User } from '../auth/users.js';
import type { WebSession } from '../auth/web-sessions.js';
import { PosternError } from '../errors/postern-error.js';
import { decide, type AccessDecision } from '../access/decide.js';
import { parseRole, parseRoleYaml, roleToYaml, type AdminResource, type Role } from '../policy/role.js';
import { AGENT_KINDS, RESOURCE_KEYS, RESOURCE_KINDS, type AnnouncedKind, type AnnouncedResource, type ResourceKind } from '../resources/table.js';
import type { AgentRecord } from '../tunnel/registry.js';
import { RESOURCE_TTL_MS } from '../wire/tunnel.js';

/** A resource as `ctl get apps` shows it: what was announced, and which agents serve it now. */
/** An online resource: what its agents announced, which agents serve it, and which proxies hold a tunnel to one of them. */
export type OnlineResource = AnnouncedResource & { agents: string[]; proxies: string[] };

/** Who runs an operation: a person with a certificate or session, or `postern ctl` on the server host. */
export interface Actor {
  name: string;
  remoteAddr: string;
}

type Verb = 'list' | 'read' | 'create' | 'update' | 'delete';

interface Op<A extends z.ZodType, R> {
  /** What the caller's admin rules must allow `verb` on; for some ops it depends on the arguments. */
  resource: AdminResource | ((args: z.output<A>) => AdminResource);
  verb: Verb;
  args: A;
  run(auth: AuthService, args: z.output<A>, actor: Actor): Promise<R>;
}

/** Keeps each op's argument and result types together (the table below is typed from it). */
function op<A extends z.ZodType, R>(o: Op<A, R>): Op<A, R> {
  return o;
}

const name = z.string().min(1);
const list = z.array(z.string().min(1));
const noArgs = z.object({});

export interface UserAdded {
  user: User;
  /** Without a password: the link the person uses to set one (and enrol a second factor). */
  invite_url?: string;
  invite_expires?: string;
  /** With a password and second_factor otp: the otpauth:// URI to put in an authenticator app, shown once. */
  otp_uri?: string;
}

/**
 * Every administrative operation, once. `postern ctl` on the server host runs them directly on
 * storage; elsewhere it sends them to the proxy (POST /webapi/admin/<name>), which checks the
 * caller's roles against `resource` and `verb` first. Each change is audited with its actor.
 */
export const ADMIN_OPS = {
  'users.add': op({
    resource: 'user',
    verb: 'create',
    args: z.object({ name, roles: list.min(1), traits: z.record(z.string(), list).default({}), password: z.string().optional() }),
    async run(auth, args, actor): Promise<UserAdded> {
      await requireRoles(auth, args.roles);
      // Checked before the user exists: a refused password must not leave a user behind.
      const problem = args.password === undefined ? undefined : passwordProblem(args.password);
      if (problem) throw new PosternError('BAD_REQUEST', `${problem}; nothing was created`);
      const user = await auth.users.create({ name: args.name, roles: args.roles, traits: args.traits, created_by: actor.name });
      await auth.emit({ event: 'user.create', user: actor.name, remote_addr: actor.remoteAddr, target: user.name, roles: user.roles });
      if (args.password === undefined) return { user, ...(await invite(auth, 'invite', user.name, actor)) };
      return { user, ...(await setCredentials(auth, user.name, args.password, actor)) };
    },
  }),
  'users.reset': op({
    resource: 'user',
    verb: 'update',
    args: z.object({ name, password: z.string().optional() }),
    async run(auth, args, actor): Promise<Omit<UserAdded, 'user'>> {
      await auth.users.require(args.name);
      await auth.userTokens.revokeFor(args.name);
      if (args.password !== undefined) return setCredentials(auth, args.name, args.password, actor);
      await auth.users.setCredentials(args.name, {});
      await auth.emit({ event: 'user.password.set', user: actor.name, remote_addr: actor.remoteAddr, target: args.name, how: 'reset link' });
      return invite(auth, 'reset', args.name, actor);
    },
  }),
  'users.update': op({
    resource: 'user',
    verb: 'update',
    // No roles at all is allowed here: it takes every access away from the user, at once (open sessions included).
    args: z.object({ name, roles: list.optional(), traits: z.record(z.string(), list).optional() }),
    async run(auth, args, actor): Promise<User> {
      if (args.roles) await requireRoles(auth, args.roles);
      const user = await auth.users.update(args.name, { ...(args.roles ? { roles: args.roles } : {}), ...(args.traits ? { traits: args.traits } : {}) });
      await auth.emit({ event: 'user.update', user: actor.name, remote_addr: actor.remoteAddr, target: user.name, roles: user.roles });
      return user;
    },
  }),
  'users.ls': op({ resource: 'user', verb: 'list', args: noArgs, run: (auth): Promise<User[]> => auth.users.list() }),
  'users.get': op({ resource: 'user', verb: 'read', args: z.object({ name }), run: (auth, args): Promise<User> => auth.users.require(args.name) }),
  'users.rm': op({
    resource: 'user',
    verb: 'delete',
    args: z.object({ name }),
    async run(auth, args, actor): Promise<{ removed: string; sessions_ended: number }> {
      await auth.users.require(args.name);
      await auth.userTokens.revokeFor(args.name);
      const ended = await auth.sessions.endWhere({ user: args.name });
      await auth.users.remove(args.name);
      await auth.emit({ event: 'user.delete', user: actor.name, remote_addr: actor.remoteAddr, target: args.name });
      return { removed: args.name, sessions_ended: ended.length };
    },
  }),

  'roles.ls': op({ resource: 'role', verb: 'list', args: noArgs, run: async (auth): Promise<Record<string, unknown>[]> => (await auth.roles.list()).map(roleToYaml) }),
  'roles.get': op({ resource: 'role', verb: 'read', args: z.object({ name }), run: async (auth, args): Promise<Record<string, unknown>> => roleToYaml(await requireRole(auth, args.name)) }),
  /** The role as the text `postern ctl get role NAME` prints: what the web console's editor starts from. */
  'roles.get-yaml': op({
    resource: 'role',
    verb: 'read',
    args: z.object({ name }),
    run: async (auth, args): Promise<{ name: string; yaml: string }> => ({ name: args.name, yaml: stringify(roleToYaml(await requireRole(auth, args.name))) }),
  }),
  'roles.upsert': op({
    resource: 'role',
    verb: 'create',
    // `role` is a parsed value (ctl create -f checks the file itself first); `yaml` is the text,
    // as the web console's editor sends it, so a refusal can name each problem's line.
    args: z.object({ role: z.unknown().optional(), yaml: z.string().max(1_000_000).optional(), source: z.string().optional() }),
    async run(auth, args, actor): Promise<{ name: string; result: 'created' | 'updated' }> {
      if ((args.role === undefined) === (args.yaml === undefined)) throw new PosternError('BAD_REQUEST', 'roles.upsert: send the role either as `role` (a value) or as `yaml` (its text)');
      const role: Role = args.yaml === undefined ? parseRole(args.role, args.source) : parseRoleYaml(args.yaml, args.source);
      const result = await auth.roles.upsert(role);
      await auth.emit({ event: result === 'created' ? 'role.create' : 'role.update', user: actor.name, remote_addr: actor.remoteAddr, target: role.metadata.name });
      return { name: role.metadata.name, result };
    },
  }),
  'roles.rm': op({
    resource: 'role',
    verb: 'delete',
    args: z.object({ name }),
    async run(auth, args, actor): Promise<{ removed: string }> {
      await auth.roles.remove(args.name);
      await auth.emit({ event: 'role.delete', user: actor.name, remote_addr: actor.remoteAddr, target: args.name });
      return { removed: args.name };
    },
  }),

  'tokens.add': op({
    resource: 'token',
    verb: 'create',
    args: z.object({ type: z.string(), ttl_ms: z.number().int().positive().optional() }),
    async run(auth, args, actor): Promise<{ token: string; record: JoinToken; ca_pin: string; proxy: string; start_command: string }> {
      const { token, record } = await auth.joinTokens.create(parseAgentRoles(args.type), actor.name, args.ttl_ms);
      await auth.emit({ event: 'token.create', user: actor.name, remote_addr: actor.remoteAddr, id: record.id, roles: record.roles, expires: record.expires });
      const proxy = new URL(auth.settings.publicUrl).host;
      const ca_pin = auth.cluster.authorities.host.pin;
      // One line, with an example flag per kind the token allows, for the person to fill in (the web console shows it).
      const flags = AGENT_KINDS.filter((row) => record.roles.includes(row.agent.joinRole)).map((row) => ` ${row.agent.flag} ${row.agent.flagExample}`);
      return { token, record, ca_pin, proxy, start_command: `postern start --roles=agent --proxy=${proxy} --token=${token} --ca-pin=${ca_pin}${flags.join('')}` };
    },
  }),
  'tokens.ls': op({ resource: 'token', verb: 'list', args: noArgs, run: (auth): Promise<JoinToken[]> => auth.joinTokens.list() }),
  'tokens.rm': op({
    resource: 'token',
    verb: 'delete',
    args: z.object({ token: name }),
    async run(auth, args, actor): Promise<JoinToken> {
      const removed = await auth.joinTokens.remove(args.token);
      await auth.emit({ event: 'token.delete', user: actor.name, remote_addr: actor.remoteAddr, id: removed.id });
      return removed;
    },
  }),

  'locks.add': op({
    resource: 'lock',
    verb: 'create',
    args: z.object({ user: z.string().optional(), role: z.string().optional(), agent: z.string().optional(), ttl_ms: z.number().int().positive().optional(), message: z.string().optional() }),
    async run(auth, args, actor): Promise<Lock & { description: string }> {
      const given = [args.user, args.role, args.agent].filter((t) => t !== undefined);
      if (given.length !== 1) throw new PosternError('USAGE', 'lock exactly one target: --user NAME, --role NAME or --agent NAME_OR_ID');
      // A misspelt name would lock no one and leave the real user in: refuse it.
      if (args.user !== undefined) await auth.users.require(args.user);
      if (args.role !== undefined) await requireRoles(auth, [args.role]);
      const target = args.user !== undefined ? { user: args.user } : args.role !== undefined ? { role: args.role } : { agent: await agentId(auth, args.agent!) };
      const lock = await auth.locks.create(target, { createdBy: actor.name, ...(args.message ? { message: args.message } : {}), ...(args.ttl_ms ? { ttlMs: args.ttl_ms } : {}) });
      await auth.emit({ event: 'lock.create', user: actor.name, remote_addr: actor.remoteAddr, lock_id: lock.id, target, message: lock.message, expires: lock.expires });
      return { ...lock, description: describeLock(lock) };
    },
  }),
  'locks.ls': op({ resource: 'lock', verb: 'list', args: noArgs, run: (auth): Promise<Lock[]> => auth.locks.list() }),
  'locks.rm': op({
    resource: 'lock',
    verb: 'delete',
    args: z.object({ id: name }),
    async run(auth, args, actor): Promise<Lock> {
      const lock = await auth.locks.remove(args.id);
      await auth.emit({ event: 'lock.delete', user: actor.name, remote_addr: actor.remoteAddr, lock_id: lock.id, target: lock.target });
      return lock;
    },
  }),

  'sessions.ls': op({ resource: 'session', verb: 'list', args: noArgs, run: (auth): Promise<WebSession[]> => auth.sessions.list() }),
  'sessions.rm': op({
    resource: 'session',
    verb: 'delete',
    args: z.object({ id: z.string().optional(), user: z.string().optional() }),
    async run(auth, args, actor): Promise<WebSession[]> {
      if (!args.id && !args.user) throw new PosternError('USAGE', 'say which sessions to end: a session id, or --user NAME for all of a user\'s');
      const ended = await auth.sessions.endWhere({ ...(args.id ? { id: args.id } : {}), ...(args.user ? { user: args.user } : {}) });
      if (ended.length === 0) throw new PosternError('NOT_FOUND', 'no session matches; list them with `postern ctl get sessions`');
      for (const s of ended) await auth.emit({ event: 'session.end', user: actor.name, remote_addr: actor.remoteAddr, target: s.user, session_id: s.id, reason: 'ended by an administrator' });
      return ended;
    },
  }),

  'access.check': op({
    resource: 'user',
    verb: 'read',
    args: z.object({
      user: name,
      kind: z.enum(RESOURCE_KINDS as [ResourceKind, ...ResourceKind[]]),
      name,
      labels: z.record(z.string(), z.string()).optional(),
      login: z.string().optional(),
    }),
    // The decision the access pipeline would make for the user as stored now (a route's inline
    // policy lives in the proxy's config, and is not part of this explanation).
    async run(auth, args): Promise<AccessDecision & { user: string; roles: string[]; resource: { kind: ResourceKind; name: string; labels: Record<string, string> } }> {
      const user = await auth.users.require(args.user);
      const labels = args.labels ?? (await onlineLabels(auth, args.kind, args.name));
      const resource = { kind: args.kind, name: args.name, labels };
      const subject = { username: user.name, roles: user.roles, traits: user.traits };
      const decision = decide({ subject, checker: await auth.checkerFor(subject), target: resource, request: args.login ? { login: args.login } : {}, sourceIp: '' });
      return { ...decision, user: user.name, roles: user.roles, resource };
    },
  }),

  'agents.ls': op({
    resource: 'agent',
    verb: 'list',
    args: noArgs,
    run: (auth) => onlineAgents(auth),
  }),
  'ssh.sign-host': op({
    resource: 'node',
    verb: 'create',
    args: z.object({ node: name, public_key: name, ttl_ms: z.number().int().positive().optional() }),
    async run(auth, args, actor): Promise<{ certificate: string; known_hosts: string; user_ca: string; sshd_config: string[] }> {
      if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(args.node)) throw new PosternError('USAGE', `--host: "${args.node}" is not a node name; use the name the agent announces (--ssh name=…)`);
      let certificate: string;
      try {
        certificate = sshHostCertificate(auth.cluster.ssh.host, { publicKey: args.public_key, node: args.node, clusterName: auth.cluster.clusterName, ...(args.ttl_ms ? { ttlMs: args.ttl_ms } : {}) });
      } catch (err) {
        throw new PosternError('USAGE', `--key: ${(err as Error).message}`);
      }
      // Recorded for the proxy's own SSH client (the browser terminal), which checks plain keys.
      await auth.sshHostKeys.record(args.node, parsePublicKeyLine(args.public_key), new Date(Date.now() + (args.ttl_ms ?? SSH_HOST_CERT_TTL_MS)));
      await auth.emit({ event: 'cert.issued', user: actor.name, remote_addr: actor.remoteAddr, cert_kind: 'ssh-host', node: args.node });
      return {
        certificate,
        known_hosts: knownHostsLine(auth.cluster.ssh.host, auth.cluster.clusterName),
        user_ca: auth.cluster.ssh.user.publicLine,
        sshd_config: sshdConfigLines(args.node, { userCa: '/etc/ssh/postern_user_ca.pub', hostCert: '/etc/ssh/ssh_host_ed25519_key-cert.pub' }),
      };
    },
  }),

  'db.sign-server': op({
    resource: 'db',
    verb: 'create',
    args: z.object({ host: name, public_key: z.string().min(1).max(4096), ttl_ms: z.number().int().positive().optional(), dir: z.string().min(1).max(1024) }),
    /** `dir` is where the database will keep the files, for the configuration lines. */
    async run(auth, args, actor): Promise<{ cert_pem: string; ca_pem: string; postgres: string[]; mysql: string[] }> {
      const ca = auth.cluster.authorities.db;
      const cert_pem = await dbServerCertificate(ca, { host: args.host, publicKeyPem: args.public_key, ttlMs: args.ttl_ms ?? 365 * 86_400_000 });
      await auth.emit({ event: 'cert.issued', user: actor.name, remote_addr: actor.remoteAddr, cert_kind: 'db-server', host: args.host });
      return { cert_pem, ca_pem: ca.certPem, ...dbServerConfig(args.dir, auth.cluster.clusterName) };
    },
  }),

  /** Online resources of a kind agents announce (apps, nodes, databases), one row per name. */
  'resources.ls': op({
    resource: (args) => args.kind,
    verb: 'list',
    args: z.object({ kind: z.enum(AGENT_KINDS.map((row) => row.kind) as [AnnouncedKind, ...AnnouncedKind[]]) }),
    run: (auth, args): Promise<OnlineResource[]> => onlineResources(auth, args.kind),
  }),

  'audit.ls': op({
    resource: 'audit',
    verb: 'list',
    args: z.object({
      since_ms: z.number().optional(),
      /** Events before this time (the web console's time range, and its "Load older"). */
      until_ms: z.number().optional(),
      types: z.array(z.string()).optional(),
      user: z.string().optional(),
      limit: z.number().int().positive().max(10_000).optional(),
      after_index: z.number().int().optional(),
      /** Newest first (with limit 1: the newest event, where following starts). */
      newest: z.boolean().optional(),
    }),
    async run(auth, args): Promise<AuditEvent[]> {
      const types = args.types?.map(checkEventType);
      return auth.audit.query({
        ...(args.since_ms !== undefined ? { since: new Date(args.since_ms) } : {}),
        ...(args.until_ms !== undefined ? { until: new Date(args.until_ms) } : {}),
        ...(types ? { types } : {}),
        ...(args.user ? { user: args.user } : {}),
        ...(args.limit ? { limit: args.limit } : {}),
        ...(args.after_index !== undefined ? { afterIndex: args.after_index } : {}),
        ...(args.newest ? { order: 'desc' as const } : {}),
      });
    },
  }),
} as const;

export type AdminOps = typeof ADMIN_OPS;
export type OpName = keyof AdminOps;
export type OpArgs<K extends OpName> = z.input<AdminOps[K]['args']>;
export type OpResult<K extends OpName> = Awaited<ReturnType<AdminOps[K]['run']>>;

/** An op by name with its arguments checked, and what running it needs the caller's rules to allow. */
export interface PreparedOp {
  resource: AdminResource;
  verb: Verb;
  run(auth: AuthService, actor: Actor): Promise<unknown>;
}

/** What the caller's admin rules must allow; throws when they do not. */
export type Permit = (resource: AdminResource, verb: Verb) => Promise<void>;

/**
 * Checks an op's unchecked JSON arguments (from the wire or the CLI), asking `permit` first: for
 * an op whose resource is fixed, before the arguments are read, so a caller without the right
 * learns nothing from how they are checked.
 */
export async function prepareOp(name: string, rawArgs: unknown, permit: Permit = async () => {}): Promise<PreparedOp> {
  const alias = Object.hasOwn(LIST_ALIASES, name) ? LIST_ALIASES[name] : undefined;
  const o = opByName(alias ? 'resources.ls' : name);
  if (typeof o.resource === 'string') await permit(o.resource, o.verb);
  const parsed = (o.args as z.ZodType).safeParse(alias ? { kind: alias } : (rawArgs ?? {}));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PosternError('BAD_REQUEST', `${name}: ${issue.path.join('.') || 'arguments'}: ${issue.message}`);
  }
  const resource = typeof o.resource === 'function' ? o.resource(parsed.data) : o.resource;
  if (typeof o.resource === 'function') await permit(resource, o.verb);
  return { resource, verb: o.verb, run: (auth, actor) => (o.run as (a: AuthService, args: unknown, actor: Actor) => Promise<unknown>)(auth, parsed.data, actor) };
}

/** The list ops `postern ctl` of earlier versions sends (`apps.ls`, …), for the kinds agents announce: resources.ls now. */
const LIST_ALIASES: Record<string, AnnouncedKind> = Object.fromEntries(AGENT_KINDS.map((row) => [`${row.plural}.ls`, row.kind]));

/** Runs an op by name with unchecked JSON arguments, as the administrator (ctl on the server host). */
export async function runOp(auth: AuthService, name: string, rawArgs: unknown, actor: Actor): Promise<unknown> {
  return (await prepareOp(name, rawArgs)).run(auth, actor);
}

export function opByName(name: string): Op<z.ZodType, unknown> {
  // Own names only: `constructor` or `__proto__` must not find Object.prototype's.
  const o = Object.hasOwn(ADMIN_OPS, name) ? (ADMIN_OPS as Record<string, Op<z.ZodType, unknown>>)[name] : undefined;
  if (!o) throw new PosternError('NOT_FOUND', `there is no admin operation "${name}"`);
  return o;
}

function checkEventType(type: string): AuditEventType {
  if (!Object.hasOwn(AUDIT_EVENTS, type)) throw new PosternError('USAGE', `"${type}" is not an audit event type; see docs/audit.md for the list (e.g. user.login.failed)`);
  return type as AuditEventType;
}

async function requireRoles(auth: AuthService, roles: string[]): Promise<void> {
  const missing = await auth.roles.missing(roles);
  if (!missing.length) return;
  const names = (await auth.roles.list()).map((r) => r.metadata.name);
  const described = missing.map((m) => {
    const guess = didYouMean(m, names);
    return guess ? `${m} (did you mean "${guess}"?)` : m;
  });
  throw new PosternError('BAD_REQUEST', `no such role: ${described.join(', ')}; list roles with \`postern ctl get roles\` or create it with \`postern ctl create -f role.yaml\``);
}

async function requireRole(auth: AuthService, name: string): Promise<Role> {
  const role = await auth.roles.get(name);
  if (!role) throw new PosternError('NOT_FOUND', `role "${name}" does not exist; list roles with \`postern ctl get roles\``);
  return role;
}

async function invite(auth: AuthService, kind: 'invite' | 'reset', user: string, actor: Actor): Promise<{ invite_url: string; invite_expires: string }> {
  const totpSecret = auth.settings.secondFactor === 'otp' ? newTotpSecret() : undefined;
  const { token, expires } = await auth.userTokens.create(kind, user, totpSecret ? { totpSecret } : {});
  await auth.emit({ event: 'user.invite', user: actor.name, remote_addr: actor.remoteAddr, target: user, kind, expires: expires.toISOString() });
  return { invite_url: `${auth.settings.publicUrl}/web/invite/${token}`, invite_expires: expires.toISOString() };
}

async function setCredentials(auth: AuthService, user: string, password: string, actor: Actor): Promise<{ otp_uri?: string }> {
  const hash = await hashPassword(password);
  const secret = auth.settings.secondFactor === 'otp' ? newTotpSecret() : undefined;
  await auth.users.setCredentials(user, { password_hash: hash, ...(secret ? { totp_secret: secret } : {}) });
  await auth.emit({ event: 'user.password.set', user: actor.name, remote_addr: actor.remoteAddr, target: user, how: 'set by an administrator' });
  return secret ? { otp_uri: totpUri(secret, user, `Postern ${auth.cluster.clusterName}`) } : {};
}

/** An agent's ID from its ID or the name it is listed under (`ctl get agents`). */
async function agentId(auth: AuthService, nameOrId: string): Promise<string> {
  const agents = await onlineAgents(auth);
  const matches = agents.filter((a) => a.name === nameOrId);
  if (matches.length > 1) throw new PosternError('USAGE', `${matches.length} online agents are named ${nameOrId}; lock one by its ID (postern ctl get agents)`);
  if (matches[0]) return matches[0].id;
  if (/^[0-9a-f-]{36}$/.test(nameOrId)) return nameOrId;
  throw new PosternError('NOT_FOUND', `no online agent is named "${nameOrId}"; give the agent's ID instead (postern ctl get agents, or identity.json in its data directory)`);
}

/** An online agent: what its tunnels' records say, and which proxies hold one. */
export type OnlineAgent = Omit<AgentRecord, 'proxy_id'> & { proxies: string[]; last_heartbeat?: string };

/**
 * Online agents, one row per agent: each proxy that holds a tunnel of it keeps a record. The
 * records' leases are renewed on heartbeats (at most every 10 s): the latest expiry tells when
 * the last one was recorded.
 */
async function onlineAgents(auth: AuthService): Promise<OnlineAgent[]> {
  const byId = new Map<string, OnlineAgent>();
  for (const item of await auth.backend.range(RESOURCE_KEYS.agentPrefix)) {
    const { proxy_id: proxy, ...record } = JSON.parse(item.value) as AgentRecord;
    const heartbeat = item.expires && new Date(item.expires.getTime() - RESOURCE_TTL_MS).toISOString();
    const row = byId.get(record.id) ?? { ...record, proxies: [] };
    if (proxy) row.proxies.push(proxy);
    if (heartbeat && (!row.last_heartbeat || heartbeat > row.last_heartbeat)) row.last_heartbeat = heartbeat;
    byId.set(record.id, row);
  }
  return [...byId.values()];
}

/** Online resources of a kind, one row per name; several agents may serve one (high availability). */
async function onlineResources(auth: AuthService, kind: AnnouncedKind): Promise<OnlineResource[]> {
  const byName = new Map<string, OnlineResource>();
  for (const item of await auth.backend.range(RESOURCE_KEYS.onlinePrefix(kind))) {
    const { agent_id: _id, agent_name: agent, ...announced } = JSON.parse(item.value) as AnnouncedResource & { agent_id: string; agent_name: string };
    const { proxy_id: proxy, ...resource } = announced as typeof announced & { proxy_id?: string };
    const row = byName.get(resource.name) ?? { ...resource, agents: [], proxies: [] };
    if (!row.agents.includes(agent)) row.agents.push(agent); // once, whichever proxies hold it
    if (proxy && !row.proxies.includes(proxy)) row.proxies.push(proxy);
    byName.set(announced.name, row);
  }
  return [...byName.values()];
}

/** Labels of an online resource (agents announce them under /resources/<kind>/<name>/<agent>). */
async function onlineLabels(auth: AuthService, kind: ResourceKind, name: string): Promise<Record<string, string>> {
  const [item] = await auth.backend.range(RESOURCE_KEYS.onlinePrefix(kind, name), { limit: 1 });
  if (!item) throw new PosternError('NOT_FOUND', `no ${kind} named "${name}" is online; pass --labels key=value,… to check one that is not`);
  return (JSON.parse(item.value) as { labels?: Record<string, string> }).labels ?? {};
}
