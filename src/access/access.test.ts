import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SqliteAuditLog } from '../audit/sqlite-audit-log.js';
import { AppSessions } from '../auth/app-sessions.js';
import { Authorizer } from '../auth/authorizer.js';
import { LiveSessions } from '../auth/live-sessions.js';
import { LockWatcher } from '../auth/lock-watcher.js';
import { Locks } from '../auth/locks.js';
import { RoleCache, Roles } from '../auth/roles.js';
import { Users } from '../auth/users.js';
import { WebSessions } from '../auth/web-sessions.js';
import { silentLogger, Logger } from '../log/logger.js';
import { parseRole } from '../policy/role.js';
import { parseRoutePolicy } from '../policy/route-policy/index.js';
import { Mirror } from '../storage/mirror.js';
import { SqliteBackend } from '../storage/sqlite/sqlite-backend.js';
import { Access } from './access.js';
import type { Caller } from './caller.js';
import type { AccessTarget } from './decide.js';
import { Standings } from './standing.js';

/** The access pipeline on a real store of its own: roles, users, locks and sessions as the server keeps them. */
async function pipeline() {
  const path = join(mkdtempSync(join(tmpdir(), 'postern-access-')), 'postern.db');
  const backend = new SqliteBackend({ path, pollIntervalMs: 20 });
  const audit = new SqliteAuditLog({ path });
  const roles = new Roles(backend);
  const users = new Users(backend);
  const locks = new Locks(backend);
  const web = new WebSessions(backend);
  const lockWatcher = new LockWatcher(locks, silentLogger);
  const roleCache = new RoleCache(roles, silentLogger);
  const userMirror = new Mirror(users.records, silentLogger);
  const sessions = new LiveSessions(web, new AppSessions(backend), silentLogger);
  for (const view of [lockWatcher, roleCache, userMirror, sessions]) await view.start();
  const lines: Record<string, unknown>[] = [];
  const log = new Logger({ level: 'info', format: 'json', sink: { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) } });
  const access = new Access({ standings: new Standings(userMirror, lockWatcher, sessions), authorizer: new Authorizer(roleCache), audit, log: silentLogger });
  access.watch((l) => lockWatcher.onChange(l));
  access.watch((l) => roleCache.onChange(l));
  access.watch((l) => userMirror.onChange(l));
  access.watch((l) => sessions.onEnd(l));
  const role = async (name: string, spec: string) => {
    await roles.upsert(parseRole({ kind: 'role', version: 'v1', metadata: { name }, spec: JSON.parse(spec) as unknown }));
    await eventually(() => roleCache.resolve([name]).length === 1);
  };
  const user = async (name: string, roleNames: string[], traits: Record<string, string[]> = {}) => {
    await users.create({ name, roles: roleNames, traits, created_by: 'test' });
  };
  const close = async () => {
    access.stop();
    for (const view of [lockWatcher, roleCache, userMirror, sessions]) view.close();
    await audit.close();
    await backend.close();
  };
  opened.push(close);
  return { access, audit, role, user, users, locks, web, log, lines, lockWatcher, userMirror };
}

const opened: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of opened.splice(0)) await close();
});

async function eventually(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!ok()) throw new Error('condition never held');
}

/** A certificate's caller, valid for an hour. */
function certificate(username: string, roles: string[], traits: Record<string, string[]> = {}): Caller {
  return { kind: 'user', username, roles, traits, via: 'certificate', expires: new Date(Date.now() + 3_600_000) };
}

const ROUTE = { kind: 'route', name: 'db.example.com:5432', labels: { env: 'dev' } } as const;
const POLICIES = {
  allow: '[{ allow: { and: [{ user: { in: [alice] } }] } }]',
  deny: '[{ allow: { and: [{ authenticated_user: true }] } }, { deny: { or: [{ user: alice }] } }]',
};

describe('one decision for role rules and inline policies together', () => {
  // role: which of alice's roles speaks about the route; policy: the route's inline policy; lock: a lock on alice.
  const table: [role: 'allow' | 'deny' | 'silent', policy: 'allow' | 'deny' | 'none', locked: boolean, allow: boolean, code: string | undefined, reasons: RegExp[]][] = [
    ['allow', 'none', false, true, undefined, [/^role dev-routes allows route "db\.example\.com:5432": route_labels env=dev matches/]],
    ['deny', 'none', false, false, 'ACCESS_DENIED', [/^role no-dev-routes denies route "db\.example\.com:5432": deny route_labels env=dev matches/]],
    ['silent', 'none', false, false, 'ACCESS_DENIED', [/^no role allows route "db\.example\.com:5432" \(labels env=dev\): role auditor has no route_labels/]],
    ['allow', 'allow', false, true, undefined, [/^allow rule 1 matched: user in \["alice"\] \(alice\)$/]],
    // The security bug this pipeline fixes: a role's deny wins over a policy that allows.
    ['deny', 'allow', false, false, 'ACCESS_DENIED', [/^role no-dev-routes denies route/]],
    ['silent', 'allow', false, true, undefined, [/^allow rule 1 matched/]],
    ['allow', 'deny', false, false, 'ACCESS_DENIED', [/^deny rule 2 matched: user is "alice"/]],
    ['deny', 'deny', false, false, 'ACCESS_DENIED', [/^role no-dev-routes denies route/, /^deny rule 2 matched: user is "alice"/]],
    ['silent', 'deny', false, false, 'ACCESS_DENIED', [/^deny rule 2 matched/]],
    ...(['allow', 'deny', 'silent'] as const).flatMap((role) =>
      (['allow', 'deny', 'none'] as const).map((policy): (typeof table)[number] => [role, policy, true, false, 'LOCKED', [/^user alice is locked: incident 42$/]]),
    ),
  ];

  it.each(table)('role %s, policy %s, locked %s: allow=%s (%s)', async (roleMode, policyMode, locked, allow, code, reasons) => {
    const p = await pipeline();
    await p.role('dev-routes', '{ "allow": { "route_labels": { "env": "dev" } } }');
    await p.role('no-dev-routes', '{ "allow": { "route_labels": { "*": "*" } }, "deny": { "route_labels": { "env": "dev" } } }');
    const roleName = { allow: 'dev-routes', deny: 'no-dev-routes', silent: 'auditor' }[roleMode];
    await p.user('alice', [roleName]);
    if (locked) await p.locks.create({ user: 'alice' }, { message: 'incident 42', createdBy: 'test' });
    if (locked) await eventually(() => p.lockWatcher.find({ username: 'alice', roles: [] }) !== undefined);
    const target: AccessTarget = { ...ROUTE, ...(policyMode === 'none' ? {} : { policy: parseRoutePolicy(parse(POLICIES[policyMode]), 'policy') }) };
    const authorization = await p.access.authorize({ caller: certificate('alice', [roleName]), target, clientAddr: '10.1.2.3', log: p.log });
    expect(authorization.decision.allow).toBe(allow);
    expect(authorization.decision.code).toBe(code);
    expect(authorization.decision.reasons).toHaveLength(reasons.length);
    reasons.forEach((reason, i) => expect(authorization.decision.reasons[i]).toMatch(reason));
    // The refusal as the client gets it: who, what, why, and what to do where there is something to do.
    if (!allow) {
      const message = authorization.error().message;
      expect(message).toBe(
        code === 'LOCKED'
          ? 'access refused: user alice is locked: incident 42; ask an administrator (postern ctl get locks)'
          : `alice may not reach TCP route "db.example.com:5432": ${authorization.decision.reasons.join('; ')}`,
      );
    }
    // One authorize line, and one audit event, for allow and deny alike.
    expect(p.lines.filter((l) => l.msg === 'authorize')).toMatchObject([{ user: 'alice', kind: 'route', resource: ROUTE.name, allow, reasons: authorization.decision.reasons }]);
    // A grant's event is written with the next batch, a few milliseconds on; a refusal's before the answer.
    if (allow) await new Promise((r) => setTimeout(r, 50));
    const [event] = await p.audit.query({ types: [allow ? 'access.granted' : 'access.denied'] });
    expect(event).toMatchObject({ user: 'alice', kind: 'route', resource: ROUTE.name, reasons: authorization.decision.reasons, via: 'certificate', ...(code ? { code_name: code } : {}) });
  });
});

describe('the caller as it stands now', () => {
  const app: AccessTarget = { kind: 'app', name: 'grafana', labels: { env: 'dev' } };

  it('grants a removed user nothing, whatever the certificate says', async () => {
    const p = await pipeline();
    await p.user('alice', ['access']);
    const caller = certificate('alice', ['access']);
    expect((await p.access.check({ caller, target: app, clientAddr: '127.0.0.1' })).allow).toBe(true);
    await p.users.remove('alice');
    await eventually(() => p.userMirror.get('alice') === undefined); // the live copy sees the removal
    expect(await p.access.check({ caller, target: app, clientAddr: '127.0.0.1' })).toEqual({ allow: false, code: 'UNAUTHENTICATED', reasons: ['user alice no longer exists'] });
  });

  it('lets a certificate narrow, never widen: only the roles and trait values the user still has count', async () => {
    const p = await pipeline();
    await p.role('dev-apps', '{ "allow": { "app_labels": { "env": "dev" } } }');
    await p.user('alice', ['auditor'], { logins: ['ubuntu'] });
    // Issued when alice had dev-apps and root; both have been taken away since.
    const caller = certificate('alice', ['dev-apps', 'auditor'], { logins: ['root', 'ubuntu'] });
    const decision = await p.access.check({ caller, target: app, clientAddr: '127.0.0.1' });
    expect(decision).toMatchObject({ allow: false, code: 'ACCESS_DENIED', reasons: [expect.stringMatching(/^no role allows app "grafana" .*: role auditor has no app_labels$/)] });
    const { subject } = await p.access.view(caller);
    expect(subject).toEqual({ username: 'alice', roles: ['auditor'], traits: { logins: ['ubuntu'] } });
    // A role the user gains after the certificate was issued is not added to it either.
    await p.users.update('alice', { roles: ['auditor', 'access'] });
    await eventually(() => p.userMirror.get('alice')?.roles.includes('access') === true);
    expect((await p.access.view(caller)).subject.roles).toEqual(['auditor']);
  });

  it('refuses everyone holding a locked role, whatever their credential names, and no one else', async () => {
    const p = await pipeline();
    await p.user('alice', ['access']);
    await p.user('bob', ['access']);
    await p.user('carol', ['auditor']);
    await p.locks.create({ role: 'access' }, { message: 'incident 7', createdBy: 'test' });
    await eventually(() => p.lockWatcher.find({ username: 'x', roles: ['access'] }) !== undefined);
    expect(await p.access.check({ caller: certificate('alice', ['access']), target: app, clientAddr: '127.0.0.1' })).toEqual({ allow: false, code: 'LOCKED', reasons: ['role access is locked: incident 7'] });
    expect((await p.access.check({ caller: certificate('bob', ['auditor']), target: app, clientAddr: '127.0.0.1' })).code).toBe('LOCKED');
    expect((await p.access.check({ caller: certificate('carol', ['auditor']), target: app, clientAddr: '127.0.0.1' })).code).toBe('ACCESS_DENIED');
  });

  it('leaves a user without roles no access at all, not even where a route policy lets any signed-in user in', async () => {
    const p = await pipeline();
    await p.user('alice', ['access']);
    const open = { ...ROUTE, policy: parseRoutePolicy(parse('[{ allow: { and: [{ authenticated_user: true }] } }]'), 'policy') };
    expect((await p.access.check({ caller: certificate('alice', ['access']), target: open, clientAddr: '127.0.0.1' })).allow).toBe(true);
    await p.users.update('alice', { roles: [] });
    await eventually(() => p.userMirror.get('alice')?.roles.length === 0);
    expect(await p.access.check({ caller: certificate('alice', ['access']), target: open, clientAddr: '127.0.0.1' })).toMatchObject({ allow: false, code: 'ACCESS_DENIED' });
    expect((await p.access.check({ caller: certificate('alice', []), target: open, clientAddr: '127.0.0.1' })).reasons).toEqual(['user alice has no roles']);
  });

  it('refuses a certificate narrowed to one app anywhere else, through the same decision and audit', async () => {
    const p = await pipeline();
    await p.user('alice', ['access']);
    const caller: Caller = { ...certificate('alice', ['access']), route: { kind: 'app', name: 'grafana' } };
    expect((await p.access.check({ caller, target: app, clientAddr: '127.0.0.1' })).allow).toBe(true);
    const elsewhere = await p.access.authorize({ caller, target: { kind: 'app', name: 'redis', labels: {} }, clientAddr: '127.0.0.1', log: p.log });
    expect(elsewhere.decision).toEqual({ allow: false, code: 'ACCESS_DENIED', reasons: ['this certificate is only for app "grafana", not app "redis"; use your login certificate (`postern login`) for anything else'] });
    expect((await p.access.check({ caller, target: ROUTE, clientAddr: '127.0.0.1' })).allow).toBe(false);
    expect(await p.audit.query({ types: ['access.denied'] })).toMatchObject([{ user: 'alice', resource: 'redis', code_name: 'ACCESS_DENIED' }]);
  });

  it("audits a refused caller of the proxy's API with the request it made", async () => {
    const p = await pipeline();
    await p.users.create({ name: 'alice', roles: ['access'], traits: {}, created_by: 'test' });
    await p.users.remove('alice');
    await expect(p.access.admit(certificate('alice', ['access']), { what: 'GET /webapi/apps', clientAddr: '10.0.0.7', log: p.log })).rejects.toThrow('access refused: user alice no longer exists; log in again');
    expect(await p.audit.query({ types: ['access.denied'] })).toMatchObject([{ user: 'alice', remote_addr: '10.0.0.7', kind: 'api', resource: 'GET /webapi/apps', code_name: 'UNAUTHENTICATED' }]);
  });

  it('looks a target up only once the caller stands, so a locked user learns nothing of it', async () => {
    const p = await pipeline();
    await p.user('alice', ['access']);
    await p.locks.create({ user: 'alice' }, { message: 'incident 44', createdBy: 'test' });
    await eventually(() => p.lockWatcher.find({ username: 'alice', roles: [] }) !== undefined);
    let looked = false;
    const refused = await p.access.authorizeLookup({
      caller: certificate('alice', ['access']),
      target: { kind: 'node', name: 'web-9' },
      find: () => {
        looked = true;
        return Promise.reject(new Error('there is no node "web-9"'));
      },
      clientAddr: '127.0.0.1',
      log: p.log,
    });
    expect(looked).toBe(false);
    expect(refused.decision).toEqual({ allow: false, code: 'LOCKED', reasons: ['user alice is locked: incident 44'] });
    expect(await p.audit.query({ types: ['access.denied'] })).toMatchObject([{ user: 'alice', kind: 'node', resource: 'web-9', code_name: 'LOCKED' }]);
  });

  it('refuses access where a role requires a second factor, naming the option', async () => {
    const p = await pipeline();
    await p.role('strict', '{ "options": { "require_mfa": true }, "allow": { "app_labels": { "*": "*" } } }');
    await p.user('alice', ['strict']);
    const decision = await p.access.check({ caller: certificate('alice', ['strict']), target: app, clientAddr: '127.0.0.1' });
    expect(decision.code).toBe('MFA_REQUIRED');
    expect(decision.reasons[0]).toMatch(/^role strict requires a second factor for every session \(require_mfa: true\)/);
  });

  it('tells a request without identity whether signing in could help', async () => {
    const p = await pipeline();
    const office = parseRoutePolicy(parse('[{ allow: { and: [{ authenticated_user: true }, { source_ip: 10.0.0.0/8 }] } }]'), 'policy');
    const route = { ...ROUTE, policy: office };
    expect((await p.access.check({ target: route, clientAddr: '10.1.2.3' })).code).toBe('UNAUTHENTICATED');
    expect((await p.access.check({ target: route, clientAddr: '192.168.1.9' })).code).toBe('ACCESS_DENIED');
    expect((await p.access.check({ target: ROUTE, clientAddr: '10.1.2.3' })).reasons).toEqual(['TCP route db.example.com:5432 is decided by roles, and the request carries no identity']);
  });
});

describe('live grants', () => {
  const node: AccessTarget = { kind: 'node', name: 'web-1', labels: { env: 'dev' } };

  /** Holds a grant for alice's SSH login as root on web-1; resolves with the reason it is revoked. */
  async function held(p: Awaited<ReturnType<typeof pipeline>>, caller: Caller): Promise<{ revoked: Promise<string> }> {
    const authorization = await p.access.authorize({ caller, target: node, request: { login: 'root' }, clientAddr: '127.0.0.1', log: p.log });
    expect(authorization.allowed).toBe(true);
    return { revoked: new Promise((resolve) => p.access.hold({ caller, target: node, request: { login: 'root' }, clientAddr: '127.0.0.1', revoke: resolve })) };
  }

  async function alice() {
    const p = await pipeline();
    await p.role('dev-root', '{ "allow": { "node_labels": { "env": "dev" }, "logins": ["root"] } }');
    await p.user('alice', ['dev-root']);
    return p;
  }

  it('revokes when a lock covers the user', async () => {
    const p = await alice();
    const { revoked } = await held(p, certificate('alice', ['dev-root']));
    await p.locks.create({ user: 'alice' }, { message: 'incident 42', createdBy: 'test' });
    expect(await revoked).toBe('user alice is locked: incident 42');
  });

  it('revokes when the role is edited to drop the target', async () => {
    const p = await alice();
    const { revoked } = await held(p, certificate('alice', ['dev-root']));
    await p.role('dev-root', '{ "allow": { "node_labels": { "env": "prod" }, "logins": ["root"] } }');
    expect(await revoked).toMatch(/^no role allows node "web-1" as login "root" \(labels env=dev\): role dev-root needs env=prod/);
  });

  it("revokes when the user's roles are taken away, whatever the certificate says", async () => {
    const p = await alice();
    const { revoked } = await held(p, certificate('alice', ['dev-root']));
    await p.users.update('alice', { roles: ['auditor'] });
    expect(await revoked).toBe("the roles the certificate names (dev-root) are no longer alice's; log in again for the roles alice has now");
  });

  it('revokes when the user is removed', async () => {
    const p = await alice();
    const { revoked } = await held(p, certificate('alice', ['dev-root']));
    await p.users.remove('alice');
    expect(await revoked).toBe('user alice no longer exists');
  });

  it('revokes when the web session it came from ends', async () => {
    const p = await alice();
    const { secret, session } = await p.web.create('alice', 3_600_000, '127.0.0.1');
    const { tokenHash } = await import('../auth/secret-token.js');
    const caller: Caller = { kind: 'user', username: 'alice', roles: ['dev-root'], traits: {}, via: 'token', expires: new Date(session.expires), sessions: [{ kind: 'web', hash: tokenHash(secret) }] };
    const { revoked } = await held(p, caller);
    await p.web.end(secret);
    expect(await revoked).toBe('the web session of alice has ended');
  });

  it('decides again a grant whose decision a change overtook before it was held (a lock placed while the upstream was dialled)', async () => {
    const p = await alice();
    const caller = certificate('alice', ['dev-root']);
    const authorization = await p.access.authorize({ caller, target: node, request: { login: 'root' }, clientAddr: '127.0.0.1', log: p.log });
    expect(authorization.allowed).toBe(true);
    await p.locks.create({ user: 'alice' }, { message: 'incident 43', createdBy: 'test' });
    await eventually(() => p.lockWatcher.find({ username: 'alice', roles: [] }) !== undefined);
    await new Promise((r) => setImmediate(r)); // the change's pass over the grants has run, and found none
    const revoked = new Promise((resolve) => p.access.hold({ caller, target: node, request: { login: 'root' }, clientAddr: '127.0.0.1', revoke: resolve }, authorization.generation));
    expect(await revoked).toBe('user alice is locked: incident 43');
  });

  it('revokes when the certificate expires', async () => {
    const p = await alice();
    const caller = { ...certificate('alice', ['dev-root']), expires: new Date(Date.now() + 300) };
    const { revoked } = await held(p, caller);
    expect(await revoked).toMatch(/^the certificate of alice expired at /);
  });
});
