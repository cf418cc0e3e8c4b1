import type { AuthService } from '../../auth/auth-service.js';
import type { User } from '../../auth/users.js';
import { knownHostsLine, nodePrincipal, sshUserCertificate } from '../../auth/ssh-certificates.js';
import { SESSION_COOKIE } from '../../auth/web-sessions.js';
import type { AccessChecker } from '../../policy/access-checker.js';
import { PosternError } from '../../errors/postern-error.js';
import { prepareOp } from '../../admin/ops.js';
import type { Access } from '../../access/access.js';
import { RESOURCE_KEYS } from '../../resources/table.js';
import type { AdminResponse, ClusterCa, ConsoleRights, LoginResponse, WhoAmI } from '../../wire/api.js';
import { ruleGate } from './admin-rules.js';
import { field, readJson } from './body.js';
import type { WebAuthenticator } from './principal.js';
import { sendJson } from './respond.js';
import type { WebContext, WebHandler } from './web-handler.js';

/** The longest certificate a client may ask for (the server's cert_ttl and the roles cap it further). */
const MAX_REQUESTED_TTL_MS = 7 * 86_400_000;

/**
 * The identity API: how clients learn whom to trust, log in, and who they are; and the admin
 * operations for `postern ctl` from elsewhere than the server host.
 */
export function registerAuthRoutes(web: WebHandler, auth: AuthService, authn: WebAuthenticator, access: Access): void {
  // Unauthenticated: the CAs, so a client can check them against a pin before trusting the proxy.
  web.route('GET', '/webapi/cluster/ca', ({ res }) => {
    const { host, user } = auth.cluster.authorities;
    sendJson<ClusterCa>(res, 200, { cluster_name: auth.cluster.clusterName, host_ca_pem: host.certPem, host_ca_pin: host.pin, user_ca_pem: user.certPem });
  });

  // CLI login: credentials and the client's public key in, a user certificate out.
  web.route('POST', '/webapi/login', async ({ req, res, conn }) => {
    const body = await readJson(req);
    const user = await auth.login({ ...credentials(body), remoteAddr: conn.clientAddr.address, method: 'cli' });
    const ttl = body.ttl_ms === undefined ? undefined : Number(body.ttl_ms);
    if (ttl !== undefined && !(Number.isInteger(ttl) && ttl >= 60_000 && ttl <= MAX_REQUESTED_TTL_MS)) throw new PosternError('BAD_REQUEST', 'ttl_ms must be a whole number of milliseconds between 1 minute and 7 days');
    const cert = await auth.issueUserCertificate(user, field(body, 'public_key'), ttl, conn.clientAddr.address);
    const checker = await auth.checkerFor({ username: user.name, roles: user.roles, traits: user.traits });
    const sshKey = field(body, 'ssh_public_key', true);
    const ssh = sshKey && {
      ssh_cert: sshUserCertificate(auth.cluster.ssh.user, { publicKey: sshKey, username: user.name, principals: await loginPrincipals(auth, checker), validBefore: cert.expires, purpose: 'login' }),
      ssh_known_hosts: knownHostsLine(auth.cluster.ssh.host, auth.cluster.clusterName),
    };
    sendJson<LoginResponse>(res, 200, {
      ...ssh,
      username: user.name,
      roles: cert.roles,
      traits: cert.traits,
      logins: checker.allowedLogins(),
      cert_pem: cert.certPem,
      expires: cert.expires.toISOString(),
      cluster_name: auth.cluster.clusterName,
      host_ca_pem: auth.cluster.authorities.host.certPem,
      user_ca_pem: auth.cluster.authorities.user.certPem,
    });
  });

  // Browser login: a session cookie instead of a certificate.
  // The answer has the shape of /webapi/whoami, so the UI needs no second call after signing in.
  web.route('POST', '/webapi/sessions', async (ctx) => {
    const body = await readJson(ctx.req);
    const user = await auth.login({ ...credentials(body), remoteAddr: ctx.conn.clientAddr.address, method: 'web' });
    const { cookie, expires } = await startSession(auth, user, ctx);
    sendJson<WhoAmI>(ctx.res, 200, await whoami(auth, user, expires), { 'set-cookie': cookie });
  });

  web.route('DELETE', '/webapi/sessions', async (ctx) => {
    const principal = await authn.principal(ctx, { tunnelToken: true });
    await endSession(auth, principal.username, principal.sessionSecret, ctx);
    sendJson(ctx.res, 200, { ended: principal.via === 'session' }, { 'set-cookie': clearedCookie() });
  });

  // Who the caller is as they stand now: a certificate's roles narrowed to those the user still has.
  web.route('GET', '/webapi/whoami', async (ctx) => {
    const p = await authn.principal(ctx, { tunnelToken: true });
    const { subject, checker } = await access.view(p);
    sendJson<WhoAmI>(ctx.res, 200, { username: subject.username, roles: subject.roles, traits: subject.traits, logins: checker.allowedLogins(), via: p.via, expires: p.expires.toISOString(), cluster_name: auth.cluster.clusterName, console: consoleRights(checker) });
  });

  // Admin operations (postern ctl from a user's machine): the caller's roles must allow the op's resource and verb.
  // The roles are the user's as stored now (Standings), not those a certificate was issued with: a
  // removed or demoted editor loses admin rights at once, not when the certificate expires.
  web.route('POST', '/webapi/admin/*', async (ctx) => {
    const p = await authn.principal(ctx);
    const { checker } = await access.view(p);
    const op = await prepareOp(ctx.rest, await readJson(ctx.req), ruleGate(auth, checker, { username: p.username, clientAddr: ctx.conn.clientAddr.address }));
    const result = await op.run(auth, { name: p.username, remoteAddr: ctx.conn.clientAddr.address });
    sendJson<AdminResponse>(ctx.res, 200, { result });
  });
}

/**
 * The login certificate's SSH principals: every login this person may use on every node known
 * now, bound to that node (see ssh-certificates.ts). OpenSSH takes at most 256.
 */
async function loginPrincipals(auth: AuthService, checker: AccessChecker): Promise<string[]> {
  const nodes = new Map<string, Record<string, string>>();
  for (const item of await auth.backend.range(RESOURCE_KEYS.onlinePrefix('node'))) {
    const r = JSON.parse(item.value) as { name: string; labels: Record<string, string> };
    nodes.set(r.name, r.labels);
  }
  const principals = [...nodes].flatMap(([name, labels]) => checker.allowedLogins({ kind: 'node', name, labels }).map((login) => nodePrincipal(login, name)));
  return principals.slice(0, 256);
}

/** Who someone who just signed in is, as /webapi/whoami would say. */
async function whoami(auth: AuthService, user: User, expires: string): Promise<WhoAmI> {
  const checker = await auth.checkerFor({ username: user.name, roles: user.roles, traits: user.traits });
  return { username: user.name, roles: user.roles, traits: user.traits, logins: checker.allowedLogins(), via: 'session', expires, cluster_name: auth.cluster.clusterName, console: consoleRights(checker) };
}

/** What the console's navigation offers this person: the same rules the admin calls are checked with. */
function consoleRights(checker: AccessChecker): ConsoleRights {
  const may = (resource: string) => checker.checkRule(resource, 'list').allow;
  return { audit: may('audit'), sessions: may('session'), administer: ['user', 'role', 'token', 'lock'].some(may) };
}

function credentials(body: Record<string, unknown>): { user: string; password: string; otp?: string } {
  const otp = field(body, 'otp', true);
  return { user: field(body, 'user'), password: field(body, 'password'), ...(otp ? { otp } : {}) };
}

/** Creates a web session for a user who just proved who they are; returns its cookie. */
async function startSession(auth: AuthService, user: User, ctx: WebContext): Promise<{ cookie: string; expires: string }> {
  const ttl = await auth.sessionTtl(user);
  const { secret, session } = await auth.sessions.create(user.name, ttl, ctx.conn.clientAddr.address);
  await auth.emit({ event: 'session.start', user: user.name, remote_addr: ctx.conn.clientAddr.address, session_id: session.id, expires: session.expires });
  return { cookie: `${SESSION_COOKIE}=${secret}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${Math.floor(ttl / 1000)}`, expires: session.expires };
}

async function endSession(auth: AuthService, username: string, secret: string | undefined, ctx: WebContext): Promise<void> {
  if (!secret) return;
  await auth.sessions.end(secret);
  await auth.emit({ event: 'user.logout', user: username, remote_addr: ctx.conn.clientAddr.address });
}

function clearedCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0`;
}
