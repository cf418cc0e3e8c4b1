import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { AccessChecker, CheckerCache, type Resource, type Subject } from './access-checker.js';
import { DEV_ACCESS_SPEC } from '../../test/helpers/example-role.js';
import { BUILTIN_ROLES, parseRole, type Role } from './role.js';

/** A role from YAML that holds only its spec, under `name`. */
function role(name: string, spec: string): Role {
  return parseRole({ kind: 'role', version: 'v1', metadata: { name }, spec: parse(spec) });
}

const devAccess = role('dev-access', DEV_ACCESS_SPEC);
const allApps = role('all-apps', 'allow: { app_labels: { "*": "*" } }');
const rootOnDev = role('root-dev', 'allow: { node_labels: { env: dev }, logins: [root] }');
const ubuntuOnProd = role('ubuntu-prod', 'allow: { node_labels: { env: prod }, logins: [ubuntu] }');
const ROLES = [devAccess, allApps, rootOnDev, ubuntuOnProd, ...BUILTIN_ROLES];

function checker(roles: string[], traits: Record<string, string[]> = { logins: ['ubuntu'] }): AccessChecker {
  return new AccessChecker({ username: 'alice', roles, traits }, ROLES);
}

const app = (name: string, labels: Record<string, string>): Resource => ({ kind: 'app', name, labels });
const node = (name: string, labels: Record<string, string>): Resource => ({ kind: 'node', name, labels });
const grafana = app('grafana', { env: 'dev', team: 'web' });
const devNode = node('dev-1', { env: 'dev' });
const prodNode = node('web-1', { env: 'prod' });

describe('resource decisions', () => {
  it('allows what a role allows, naming the role and the selector', () => {
    const d = checker(['dev-access']).checkResource(grafana);
    expect(d).toEqual({
      allow: true,
      reasons: ['role dev-access allows app "grafana": app_labels env=dev, team=web matches (env: [dev, staging], team: ^(web|api)$)'],
    });
  });

  it('allows nothing no role allows, saying what each role needs', () => {
    const d = checker(['dev-access', 'auditor']).checkResource(app('grafana', { env: 'prod', team: 'web' }));
    expect(d).toEqual({
      allow: false,
      reasons: ['no role allows app "grafana" (labels env=prod, team=web): role dev-access needs env in [dev, staging]; role auditor has no app_labels'],
    });
    expect(checker(['auditor', 'dev-access', 'editor']).checkResource(app('grafana', {})).reasons).toEqual([
      'no role allows app "grafana" (no labels): role dev-access needs env in [dev, staging] and team=^(web|api)$; roles auditor, editor have no app_labels',
    ]);
  });

  it('lets a matching deny win over every allow', () => {
    const payroll = app('payroll', { env: 'dev', team: 'finance' });
    expect(checker(['all-apps']).checkResource(payroll).allow).toBe(true);
    const d = checker(['all-apps', 'dev-access']).checkResource(payroll);
    expect(d).toEqual({ allow: false, denied: true, reasons: ['role dev-access denies app "payroll": deny app_labels team=finance matches (team: finance)'] });
  });

  it('takes a login only from the role whose node selector matched', () => {
    const c = checker(['root-dev', 'ubuntu-prod']);
    expect(c.checkResource(devNode, { login: 'root' }).allow).toBe(true);
    expect(c.checkResource(prodNode, { login: 'ubuntu' }).allow).toBe(true);
    expect(c.checkResource(devNode, { login: 'ubuntu' }).allow).toBe(false);
    const d = c.checkResource(prodNode, { login: 'root' });
    expect(d.allow).toBe(false);
    expect(d.reasons).toEqual([
      'no role allows node "web-1" as login "root" (labels env=prod): role root-dev needs env=dev; role ubuntu-prod allows node "web-1" but not login "root" (its logins: ubuntu)',
    ]);
  });

  it('expands trait templates in logins for this subject', () => {
    expect(checker(['dev-access'], { logins: ['ubuntu'] }).checkResource(devNode, { login: 'ubuntu' }).allow).toBe(true);
    expect(checker(['dev-access'], { logins: ['deploy'] }).checkResource(devNode, { login: 'ubuntu' }).allow).toBe(false);
    expect(checker(['dev-access'], {}).checkResource(devNode, { login: 'root' }).allow).toBe(true);
  });

  it('lets a node without a login be reached when a selector matches', () => {
    expect(checker(['ubuntu-prod']).checkResource(prodNode).allow).toBe(true);
    expect(checker(['root-dev']).checkResource(prodNode).allow).toBe(false);
  });

  it('denies listed logins on every node when the deny block has no node_labels', () => {
    const noRoot = role('no-root', 'deny: { logins: [root] }');
    const c = new AccessChecker({ username: 'alice', roles: ['root-dev', 'no-root'], traits: {} }, [rootOnDev, noRoot]);
    const d = c.checkResource(devNode, { login: 'root' });
    expect(d).toEqual({ allow: false, denied: true, reasons: ['role no-root denies node "dev-1" as login "root": deny logins include root (on every node)'] });
    expect(c.checkResource(devNode).allow).toBe(true);
  });

  it('denies listed logins only on the nodes its node_labels match', () => {
    const noRootOnProd = role('no-root-prod', 'deny: { node_labels: { env: prod }, logins: [root] }');
    const everywhere = role('everywhere', 'allow: { node_labels: { "*": "*" }, logins: [root, ubuntu] }');
    const c = new AccessChecker({ username: 'alice', roles: ['everywhere', 'no-root-prod'], traits: {} }, [everywhere, noRootOnProd]);
    expect(c.checkResource(devNode, { login: 'root' }).allow).toBe(true);
    expect(c.checkResource(prodNode, { login: 'ubuntu' }).allow).toBe(true);
    expect(c.checkResource(prodNode).allow).toBe(true);
    expect(c.checkResource(prodNode, { login: 'root' }).reasons).toEqual([
      'role no-root-prod denies node "web-1" as login "root": deny node_labels env=prod matches (env: prod) and deny logins include root',
    ]);
  });

  it('takes a database user and name from the role whose db selector matched', () => {
    const readers = role('readers', 'allow: { db_labels: { env: prod }, db_users: [reader], db_names: [app] }');
    const admins = role('admins', 'allow: { db_labels: { env: dev }, db_users: [admin], db_names: ["{{internal.db_names}}"] }');
    const c = new AccessChecker({ username: 'alice', roles: ['readers', 'admins'], traits: { db_names: ['app'] } }, [readers, admins]);
    const prodDb: Resource = { kind: 'db', name: 'pg', labels: { env: 'prod' } };
    expect(c.checkResource(prodDb, { dbUser: 'reader', dbName: 'app' }).allow).toBe(true);
    expect(c.checkResource({ ...prodDb, labels: { env: 'dev' } }, { dbUser: 'admin', dbName: 'app' }).allow).toBe(true);
    const d = c.checkResource(prodDb, { dbUser: 'admin', dbName: 'app' });
    expect(d.allow).toBe(false);
    expect(d.reasons[0]).toContain('role readers allows db "pg" but not database user "admin" (its db_users: reader)');
  });

  it('names roles that do not exist in a denial, without throwing', () => {
    const d = checker(['ghost', 'dev-access']).checkResource(app('grafana', { env: 'prod' }));
    expect(d.allow).toBe(false);
    expect(d.reasons[0]).toMatch(/role dev-access needs env in \[dev, staging\] and team=\^\(web\|api\)\$; role ghost does not exist$/);
    expect(new AccessChecker({ username: 'bob', roles: [], traits: {} }, ROLES).checkResource(grafana).reasons[0]).toMatch(/: bob has no roles$/);
  });

  it('ignores given roles the subject does not have', () => {
    expect(checker(['auditor']).checkResource(grafana).allow).toBe(false);
  });
});

describe('admin rules', () => {
  it("allows any verb on any resource through '*'", () => {
    expect(checker(['editor']).checkRule('user', 'create')).toEqual({
      allow: true,
      reasons: ['role editor allows create on user: rule verbs [*] on [*]'],
    });
  });

  it('allows only the listed verbs and resources, saying what the roles do allow', () => {
    const c = checker(['auditor', 'dev-access']);
    expect(c.checkRule('audit', 'list').allow).toBe(true);
    expect(c.checkRule('session', 'read').allow).toBe(true);
    expect(c.checkRule('audit', 'delete')).toEqual({
      allow: false,
      reasons: ['no role allows delete on audit: role auditor allows only verbs [list, read] on [audit, session]; role dev-access has no rules'],
    });
  });

  it('lets a deny rule win', () => {
    const noUsers = role('no-users', 'deny: { rules: [{ resources: [user], verbs: [delete] }] }');
    const c = new AccessChecker({ username: 'alice', roles: ['editor', 'no-users'], traits: {} }, [...BUILTIN_ROLES, noUsers]);
    expect(c.checkRule('user', 'update').allow).toBe(true);
    expect(c.checkRule('user', 'delete')).toEqual({ allow: false, denied: true, reasons: ['role no-users denies delete on user: deny rule verbs [delete] on [user]'] });
  });

  it('refuses actions outside the admin vocabulary, even to an editor', () => {
    expect(checker(['editor']).checkRule('users', 'create')).toMatchObject({ allow: false, reasons: [expect.stringMatching(/is not an admin action/)] });
  });
});

describe('logins, session TTL and MFA', () => {
  it('lists the logins allowed on a node, deny applied', () => {
    const noRootOnProd = role('no-root-prod', 'deny: { node_labels: { env: prod }, logins: [root] }');
    const everywhere = role('everywhere', 'allow: { node_labels: { "*": "*" }, logins: [root, "{{internal.logins}}"] }');
    const roles = [rootOnDev, ubuntuOnProd, everywhere, noRootOnProd];
    const c = new AccessChecker({ username: 'alice', roles: roles.map((r) => r.metadata.name), traits: { logins: ['ubuntu', 'root'] } }, roles);
    expect(c.allowedLogins(devNode)).toEqual(['root', 'ubuntu']);
    expect(c.allowedLogins(prodNode)).toEqual(['ubuntu']);
    // Without a node: root is still allowed on dev nodes.
    expect(c.allowedLogins()).toEqual(['root', 'ubuntu']);
  });

  it('lists the database users and names allowed on a database, traits expanded and deny applied', () => {
    const readers = role('db-readers', 'allow: { db_labels: { env: dev }, db_users: [reader, "{{internal.db_users}}"], db_names: [orders, scratch] }');
    const noScratch = role('no-scratch', 'deny: { db_labels: { env: dev }, db_names: [scratch] }');
    const c = new AccessChecker({ username: 'alice', roles: ['db-readers', 'no-scratch'], traits: { db_users: ['alice'] } }, [readers, noScratch]);
    const orders = { kind: 'db' as const, name: 'orders', labels: { env: 'dev' } };
    expect(c.allowedNames(orders, 'db_users')).toEqual(['reader', 'alice']);
    expect(c.allowedNames(orders, 'db_names')).toEqual(['orders']);
    expect(c.allowedNames({ ...orders, labels: { env: 'prod' } }, 'db_users')).toEqual([]);
    expect(() => c.allowedNames(orders, 'logins')).toThrow(/db resources have no logins/);
  });

  it('drops logins denied on every node from the list without a node', () => {
    const noRoot = role('no-root', 'deny: { logins: [root] }');
    const c = new AccessChecker({ username: 'alice', roles: ['root-dev', 'ubuntu-prod', 'no-root'], traits: {} }, [rootOnDev, ubuntuOnProd, noRoot]);
    expect(c.allowedLogins()).toEqual(['ubuntu']);
    const noRootAnywhere = role('no-root-anywhere', `deny: { node_labels: { "*": "*" }, logins: [root] }`);
    expect(new AccessChecker({ username: 'alice', roles: ['root-dev', 'ubuntu-prod', 'no-root-anywhere'], traits: {} }, [rootOnDev, ubuntuOnProd, noRootAnywhere]).allowedLogins()).toEqual(['ubuntu']);
    const noNodes = role('no-nodes', `deny: { node_labels: { "*": "*" } }`);
    expect(new AccessChecker({ username: 'alice', roles: ['root-dev', 'no-nodes'], traits: {} }, [rootOnDev, noNodes]).allowedLogins()).toEqual([]);
  });

  it('takes the smallest max_session_ttl and any require_mfa', () => {
    const short = role('short', 'options: { max_session_ttl: 2h, require_mfa: true }');
    const roles = [devAccess, short, rootOnDev];
    const subject = (names: string[]): Subject => ({ username: 'alice', roles: names, traits: {} });
    expect(new AccessChecker(subject(['dev-access', 'short', 'root-dev']), roles).maxSessionTtl()).toBe(2 * 3_600_000);
    expect(new AccessChecker(subject(['dev-access', 'root-dev']), roles).maxSessionTtl()).toBe(8 * 3_600_000);
    expect(new AccessChecker(subject(['root-dev']), roles).maxSessionTtl()).toBeUndefined();
    expect(new AccessChecker(subject(['short']), roles).mfaRoles()).toEqual(['short']);
    expect(new AccessChecker(subject(['dev-access']), roles).mfaRoles()).toEqual([]);
  });
});

describe('caching', () => {
  it('answers a repeated check from the cache with a frozen decision', () => {
    const c = checker(['dev-access']);
    const first = c.checkResource(grafana);
    expect(c.checkResource({ ...grafana, labels: { ...grafana.labels } })).toBe(first);
    expect(c.checkResource(grafana, { login: 'x' })).not.toBe(first);
    expect(Object.isFrozen(first) && Object.isFrozen(first.reasons)).toBe(true);
  });

  it('keeps a bounded number of decisions', () => {
    const c = new AccessChecker({ username: 'alice', roles: ['all-apps'], traits: {} }, ROLES, { cacheSize: 2 });
    const a = c.checkResource(app('a', {}));
    const b = c.checkResource(app('b', {}));
    expect(c.checkResource(app('a', {}))).toBe(a); // a is now the most recently used
    c.checkResource(app('c', {})); // evicts b
    expect(c.checkResource(app('a', {}))).toBe(a);
    expect(c.checkResource(app('b', {}))).not.toBe(b);
  });

  it('gives the same checker for the same roles and subject until cleared', () => {
    const cache = new CheckerCache();
    const subject: Subject = { username: 'alice', roles: ['dev-access'], traits: { logins: ['ubuntu'] } };
    const c = cache.get(subject, ROLES);
    expect(cache.get({ ...subject, traits: { logins: ['ubuntu'] } }, [...ROLES])).toBe(c);
    expect(cache.get({ ...subject, traits: { logins: ['root'] } }, ROLES)).not.toBe(c);
    expect(cache.get({ ...subject, username: 'bob' }, ROLES)).not.toBe(c);
    const edited = role('dev-access', 'allow: { app_labels: { env: prod } }');
    expect(cache.get(subject, [edited])).not.toBe(c);
    cache.clear();
    expect(cache.get(subject, ROLES)).not.toBe(c);
  });
});
