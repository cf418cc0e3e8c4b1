import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { spawn } from 'node:child_process';
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readClusterState } from '../../src/auth/cluster-state.js';
import { lookup } from '../../src/net/localhost.js';
import { issueCertificate } from '../../src/pki/authority.js';
import { EC_ALGORITHM } from '../../src/pki/crypto.js';
import { SqliteBackend, storePath } from '../../src/storage/sqlite/sqlite-backend.js';
import { eventually } from '../harness/eventually.js';
import { TestCluster, type Person } from '../helpers/cluster.js';
import { DEV_ACCESS_YAML } from '../helpers/example-role.js';
import { haveProgram } from '../helpers/programs.js';
import { CLI, run, tempDir } from '../helpers/postern.js';

const tools = haveProgram('curl', ['--version']);
const PASSWORD = 'correct horse battery staple';

describe.runIf(tools)('identity: users, login, certificates, locks, sessions, audit', () => {
  let cluster: TestCluster;
  let caFile: string;

  beforeAll(async () => {
    cluster = await TestCluster.start();
    caFile = join(tempDir(), 'host-ca.pem');
    writeFileSync(caFile, (await cluster.ctl(['auth', 'export'])).stdout);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  const curl = (args: string[]) => run('curl', ['-sS', '--cacert', caFile, ...args]);
  const profileDir = (p: Person) => join(p.home, 'profiles', `postern.localhost-${cluster.server.proxyPort}`);

  it('invite → set a password and enrol TOTP on the page → postern login → postern status → logout', async () => {
    const added = await cluster.ctl(['users', 'add', 'carol', '--roles=access', '--logins=root,ubuntu']);
    expect(added.code, added.stderr).toBe(0);
    const link = /https:\/\/\S+\/web\/invite\/\S+/.exec(added.stdout)![0];
    expect(link).toContain(`postern.localhost:${cluster.server.proxyPort}`);

    const pageHtml = (await curl([link])).stdout;
    expect(pageHtml).toContain('Welcome, carol');
    expect(pageHtml).toContain('<svg'); // the QR code
    const secret = /<code>([A-Z2-7]+)<\/code>/.exec(pageHtml)![1]!;

    const post = (fields: Record<string, string>) => curl(['-w', '\n%{http_code}', '-H', `Origin: https://postern.localhost:${cluster.server.proxyPort}`, ...Object.entries(fields).flatMap(([k, v]) => ['--data-urlencode', `${k}=${v}`]), link]);
    const mismatch = await post({ password: PASSWORD, password2: PASSWORD + 'x', otp: '000000' });
    expect(mismatch.stdout).toMatch(/the two passwords differ[\s\S]*\n400$/);
    const wrongCode = await post({ password: PASSWORD, password2: PASSWORD, otp: cluster.wrongCode(secret) });
    expect(wrongCode.stdout).toMatch(/one-time code is wrong[\s\S]*\n400$/);
    const done = await post({ password: PASSWORD, password2: PASSWORD, otp: await cluster.freshCode(secret) });
    expect(done.stdout).toMatch(/You are all set, carol[\s\S]*postern login --proxy=postern.localhost:\d+ --user=carol[\s\S]*\n200$/);
    expect((await post({ password: PASSWORD, password2: PASSWORD, otp: '000000' })).stdout).toMatch(/invalid, expired or already used[\s\S]*\n404$/);

    const carol = cluster.person();
    const login = await carol.login('carol', PASSWORD, secret);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain('Logged in as carol');
    const status = await carol.run(['status']);
    expect(status.stdout).toMatch(/> Profile: +postern\.localhost-\d+/);
    expect(status.stdout).toMatch(/Logged in as: carol\n {2}Cluster: +postern\.localhost\n {2}Roles: +access\n {2}Logins: +root, ubuntu\n {2}Valid until: .*\[valid for 11h5\dm\]/);
    expect(statSync(join(profileDir(carol), 'key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(profileDir(carol)).mode & 0o777).toBe(0o700);
    expect(statSync(carol.home).mode & 0o777).toBe(0o700);

    expect((await carol.run(['logout'])).stdout).toContain('Logged out carol');
    expect((await carol.run(['status'])).stdout).toContain('Not logged in. Log in with: `postern login --proxy=HOST:PORT --user=NAME --ca-pin=PIN` (PIN: the host CA pin');
  });

  it('needs --ca-pin, --ca-file or --insecure on first contact, and refuses a wrong pin before sending the password', async () => {
    await cluster.addUser('dora', PASSWORD, 'access');
    const dora = cluster.person();
    const bare = await dora.run(['login', `--proxy=${cluster.proxy}`, '--user=dora', '--password-stdin'], PASSWORD);
    expect(bare.code).toBe(77);
    expect(bare.stderr).toMatch(/does not trust .*--ca-pin sha256/);
    const wrongPin = await dora.run(['login', `--proxy=${cluster.proxy}`, '--user=dora', '--password-stdin', `--ca-pin=sha256:${'0'.repeat(64)}`], PASSWORD);
    expect(wrongPin.code).toBe(77);
    expect(wrongPin.stderr).toContain(`serves a host CA with pin ${cluster.pin}`);
    const audit = await cluster.ctl(['audit', 'ls', '--user', 'dora', '--type', 'user.login.failed', '--format', 'json']);
    expect(audit.stdout.trim()).toBe(''); // nothing reached the server's login
  });

  it('refuses wrong passwords and codes, rate-limits the user, and audits each attempt with its reason', async () => {
    const secret = await cluster.addUser('dave', PASSWORD);
    const dave = cluster.person();
    // Wrong passwords with a made-up code: the password is checked first, so these fail on it.
    const wrongPassword = await dave.login('dave', 'not the password at all', '', ['--otp', '000000']);
    expect(wrongPassword.code).toBe(77);
    expect(wrongPassword.stderr).toContain('login refused: wrong user name, password or one-time code');
    expect((await dave.login('dave', PASSWORD, '', ['--otp', cluster.wrongCode(secret)])).code).toBe(77);
    for (let i = 0; i < 3; i++) expect((await dave.login('dave', `wrong password ${i}!`, '', ['--otp', '000000'])).code).toBe(77);
    const limited = await dave.login('dave', PASSWORD, secret);
    expect(limited.code).toBe(75);
    expect(limited.stderr).toMatch(/too many failed logins; try again in \d+ min/);
    const audit = await cluster.ctl(['audit', 'ls', '--user', 'dave', '--type', 'user.login.failed', '--format', 'json']);
    const reasons = audit.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { reason: string; code: string }).reason);
    expect(reasons).toEqual(['wrong password', 'wrong one-time code', 'wrong password', 'wrong password', 'wrong password', 'rate limited']);
  });

  it('says a replayed one-time code was used already, not that the password is wrong', async () => {
    const secret = await cluster.addUser('rita', PASSWORD);
    const rita = cluster.person();
    const code = ['--otp', await cluster.freshCode(secret)];
    expect((await rita.login('rita', PASSWORD, '', code)).code).toBe(0);
    const replay = await rita.login('rita', PASSWORD, '', code);
    expect(replay.code).toBe(77);
    expect(replay.stderr).toContain('that one-time code was used already, and each code works only once; wait until your authenticator app shows the next code');
    expect(replay.stderr).not.toContain('wrong user name, password');
    const audit = await cluster.ctl(['audit', 'ls', '--user', 'rita', '--type', 'user.login.failed', '--format', 'json']);
    expect(JSON.parse(audit.stdout.trim())).toMatchObject({ reason: 'one-time code already used' });
  });

  it('asks for the one-time code before checking anything, so leaving it out cannot test a password', async () => {
    await cluster.addUser('olga', PASSWORD);
    const olga = cluster.person();
    for (const password of [PASSWORD, 'not the password at all']) {
      const r = await olga.run(['login', `--proxy=${cluster.proxy}`, '--user=olga', '--password-stdin', `--ca-pin=${cluster.pin}`], password);
      expect(r.code).toBe(77);
      expect(r.stderr).toContain('this cluster asks for a one-time code from your authenticator app with the password: pass --otp CODE');
    }
    const audit = await cluster.ctl(['audit', 'ls', '--user', 'olga', '--type', 'user.login.failed', '--format', 'json']);
    expect(audit.stdout.trim()).toBe(''); // nothing was checked, so nothing failed
  });

  it('refuses a too-short password for a new user without creating the user', async () => {
    const short = await cluster.ctl(['users', 'add', 'sam', '--roles=access', '--password-stdin'], 'short');
    expect(short.code).not.toBe(0);
    expect(short.stderr).toContain('the password is too short: use at least 12 characters; nothing was created');
    expect((await cluster.ctl(['get', 'users'])).stdout).not.toMatch(/^sam\s/m);
    expect((await cluster.ctl(['users', 'add', 'sam', '--roles=access', '--password-stdin'], PASSWORD)).code).toBe(0);
  });

  it('refuses an expired certificate with "run postern login", on the server and in the CLI', async () => {
    const secret = await cluster.addUser('eve', PASSWORD);
    const eve = cluster.person();
    expect((await eve.login('eve', PASSWORD, secret)).code).toBe(0);
    // A real certificate from the cluster's user CA that lives three seconds (long enough for one curl on a busy machine).
    const backend = new SqliteBackend({ path: storePath(cluster.server.dataDir) });
    const { authorities } = await readClusterState(backend, cluster.server.dataDir);
    await backend.close();
    const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const publicKey = await webcrypto.subtle.importKey('spki', keys.publicKey.export({ type: 'spki', format: 'der' }), EC_ALGORITHM, true, ['verify']);
    const cert = await issueCertificate(authorities.user, { publicKey, commonName: 'eve', ttlMs: 3000, usage: 'client', identity: { kind: 'user', roles: ['access'], traits: {} } });
    const dir = tempDir();
    writeFileSync(join(dir, 'cert.pem'), cert.toString('pem'));
    writeFileSync(join(dir, 'key.pem'), keys.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const whoami = () => curl(['--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem'), cluster.server.url('/webapi/whoami', 'postern.localhost')]);
    // The same certificate while it is valid, then after it expired.
    expect(JSON.parse((await whoami()).stdout)).toMatchObject({ username: 'eve', via: 'certificate' });
    await new Promise((r) => setTimeout(r, Math.max(0, cert.notAfter.getTime() - Date.now()) + 200));
    const expired = JSON.parse((await whoami()).stdout) as { error: { code: string; message: string } };
    expect(expired.error.code).toBe('CERT_EXPIRED');
    expect(expired.error.message).toMatch(/expired at .*run `postern login`/);

    // The CLI says the same before it even connects, and status shows it.
    const profile = join(profileDir(eve), 'profile.json');
    writeFileSync(profile, JSON.stringify({ ...JSON.parse(readFileSync(profile, 'utf8')), expires: new Date(Date.now() - 60_000).toISOString() }));
    const ctl = await eve.run(['ctl', 'get', 'users']);
    expect(ctl.code).toBe(77);
    expect(ctl.stderr).toMatch(/expired at .*run `postern login`/);
    expect((await eve.run(['status'])).stdout).toMatch(/\[expired 1m ago: run postern login\]/);
  });

  it('a lock refuses new connections and ends a live mutual-TLS connection within a second', async () => {
    const secret = await cluster.addUser('frank', PASSWORD);
    const frank = cluster.person();
    expect((await frank.login('frank', PASSWORD, secret)).code).toBe(0);
    const dir = profileDir(frank);
    const session = http2Connect(`https://postern.localhost:${cluster.server.proxyPort}`, {
      ca: readFileSync(caFile),
      cert: readFileSync(join(dir, 'cert.pem')),
      key: readFileSync(join(dir, 'key.pem')),
      lookup,
    });
    session.on('error', () => {});
    const get = () =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = session.request({ ':path': '/webapi/whoami' });
        let body = '';
        req.on('response', (h) => req.on('data', (d: Buffer) => (body += d)).on('end', () => resolve({ status: Number(h[':status']), body })));
        req.on('error', reject);
        req.end();
      });
    expect((await get()).status).toBe(200);
    // A misspelt name locks no one, so it is refused rather than accepted silently.
    const typo = await cluster.ctl(['lock', '--user', 'frnak']);
    expect(typo.code).not.toBe(0);
    expect(typo.stderr).toContain('user "frnak" does not exist');
    const badRole = await cluster.ctl(['lock', '--role', 'acess']);
    expect(badRole.stderr).toContain('no such role: acess (did you mean "access"?)');
    const closed = new Promise<number>((resolve) => session.once('close', () => resolve(Date.now())));
    const lock = await cluster.ctl(['lock', '--user', 'frank', '--message', 'incident 42']);
    expect(lock.code, lock.stderr).toBe(0);
    const lockedAt = Date.now();
    expect((await closed) - lockedAt).toBeLessThan(1500);

    const refused = await curl(['--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem'), cluster.server.url('/webapi/whoami')]);
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: { code: 'LOCKED', message: expect.stringMatching(/user frank is locked: incident 42/) } });
    expect((await frank.login('frank', PASSWORD, secret)).stderr).toContain('user frank is locked: incident 42');

    const id = /Lock id (\S+);/.exec(lock.stdout)![1]!;
    expect((await cluster.ctl(['rm', 'lock', id])).code).toBe(0);
    // The server sees the removal within its storage poll interval.
    const status = () => curl(['-o', '/dev/null', '-w', '%{http_code}', '--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem'), cluster.server.url('/webapi/whoami')]);
    await eventually(async () => ((await status()).stdout === '200' ? true : undefined), () => 'still refused after the lock was removed');
  });

  it('browser sessions: a __Host- cookie that an administrator can list and end', async () => {
    const secret = await cluster.addUser('gina', PASSWORD);
    const login = await curl(['-D', '-', '-H', 'content-type: application/json', '--data', JSON.stringify({ user: 'gina', password: PASSWORD, otp: await cluster.freshCode(secret) }), cluster.server.url('/webapi/sessions')]);
    const setCookie = /^set-cookie: (.*)$/im.exec(login.stdout)![1]!;
    expect(setCookie).toMatch(/^__Host-postern_session=[\w-]{40,}; Path=\/; Secure; HttpOnly; SameSite=Lax; Max-Age=43200/);
    const cookie = setCookie.split(';')[0]!;
    expect(JSON.parse((await curl(['-H', `cookie: ${cookie}`, cluster.server.url('/webapi/whoami')])).stdout)).toMatchObject({ username: 'gina', via: 'session' });

    const sessions = JSON.parse((await cluster.ctl(['get', 'sessions', '--format', 'json'])).stdout) as { id: string; user: string }[];
    const mine = sessions.find((s) => s.user === 'gina')!;
    expect((await cluster.ctl(['get', 'sessions'])).stdout).toMatch(new RegExp(`${mine.id}\\s+gina\\s+127\\.0\\.0\\.1`));
    expect((await cluster.ctl(['rm', 'session', mine.id])).code).toBe(0);
    expect(JSON.parse((await curl(['-H', `cookie: ${cookie}`, cluster.server.url('/webapi/whoami')])).stdout)).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
  });

  it('remote ctl: an editor administers through the proxy; others hear which rule is missing', async () => {
    const secret = await cluster.addUser('ivan', PASSWORD, 'access');
    const ivan = cluster.person();
    expect((await ivan.login('ivan', PASSWORD, secret)).code).toBe(0);
    const denied = await ivan.run(['ctl', 'get', 'users']);
    expect(denied.code).toBe(77);
    expect(denied.stderr).toMatch(/ivan may not list users: .*role access/);
    expect((await cluster.ctl(['users', 'update', 'ivan', '--roles=access,editor'])).code).toBe(0);
    expect((await ivan.login('ivan', PASSWORD, secret)).code).toBe(0);
    const users = await ivan.run(['ctl', 'get', 'users']);
    expect(users.code, users.stderr).toBe(0);
    expect(users.stdout).toMatch(/^NAME\s+ROLES/);
    expect(users.stdout).toMatch(/ivan\s+access, editor/);
    const audit = await cluster.ctl(['audit', 'ls', '--type', 'access.denied', '--user', 'ivan', '--format', 'json']);
    expect(JSON.parse(audit.stdout.trim().split('\n')[0]!)).toMatchObject({ event: 'access.denied', code: 'PA1700W', remote_addr: '127.0.0.1', resource: 'user:list' });
    // Demoted: the certificate still says editor, but admin rights follow the user as stored now.
    expect((await cluster.ctl(['users', 'update', 'ivan', '--roles=access'])).code).toBe(0);
    const demoted = await ivan.run(['ctl', 'get', 'users']);
    expect(demoted.code).toBe(77);
    expect(demoted.stderr).toMatch(/ivan may not list users/);
    expect((await cluster.ctl(['users', 'rm', 'ivan'])).code).toBe(0);
    expect((await ivan.run(['ctl', 'get', 'users'])).stderr).toMatch(/user ivan no longer exists/);
  });

  it('custom roles from YAML: bad fields are named, the session TTL is capped, and access check explains', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'role.yaml'), DEV_ACCESS_YAML);
    const created = await cluster.ctl(['create', '-f', join(dir, 'role.yaml')]);
    expect(created.stdout).toBe('role "dev-access" created\n');
    writeFileSync(join(dir, 'bad.yaml'), 'kind: role\nversion: v1\nmetadata: { name: broken }\nspec:\n  allow:\n    app_labels: { team: "^(web" }\n');
    const bad = await cluster.ctl(['create', '-f', join(dir, 'bad.yaml')]);
    expect(bad.code).toBe(78);
    expect(bad.stderr).toContain('spec.allow.app_labels.team');

    const secret = await cluster.addUser('judy', PASSWORD, 'dev-access', ['--logins=judy']);
    const judy = cluster.person();
    expect((await judy.login('judy', PASSWORD, secret)).code).toBe(0);
    expect((await judy.run(['status'])).stdout).toMatch(/Roles: +dev-access\n {2}Logins: +judy, root\n {2}Valid until: .*\[valid for 7h5\dm\]/);

    const allowed = await cluster.ctl(['access', 'check', '--user', 'judy', '--kind', 'app', '--name', 'grafana', '--labels', 'env=dev,team=web']);
    expect(allowed.stdout).toMatch(/^ALLOWED: judy \(roles dev-access\) → app "grafana"/);
    expect(allowed.stdout).toContain('role dev-access');
    const deniedCheck = await cluster.ctl(['access', 'check', '--user', 'judy', '--kind', 'app', '--name', 'payroll', '--labels', 'env=dev,team=finance']);
    expect(deniedCheck.stdout).toMatch(/^DENIED: [\s\S]*role dev-access denies/);
  });

  it('ctl create -f takes roles, users, tokens and locks in one file, checks every document before applying any, and ctl get prints the same form', async () => {
    const dir = tempDir();
    const docs = [
      'kind: role\nversion: v1\nmetadata: { name: ops }\nspec: { allow: { node_labels: { env: prod }, logins: [ops] } }',
      'kind: user\nversion: v1\nmetadata: { name: otto }\nspec: { roles: [ops], traits: { logins: [ops] } }',
      'kind: token\nversion: v1\nspec: { roles: [ssh], ttl: 10m }',
      'kind: lock\nversion: v1\nspec: { target: { role: ops }, message: change freeze, ttl: 1h }',
    ];
    // A mistake in the last document: nothing of the file is applied.
    writeFileSync(join(dir, 'bad.yaml'), [...docs, 'kind: user\nversion: v1\nmetadata: { name: pat }\nspec: { role: [ops] }'].join('\n---\n'));
    const bad = await cluster.ctl(['create', '-f', join(dir, 'bad.yaml')]);
    expect(bad.code).toBe(78);
    expect(bad.stderr).toContain(`${join(dir, 'bad.yaml')} (document 5): the user is invalid:\n  spec.roles: write a list, like [access]\n  spec.role: unknown field`);
    expect((await cluster.ctl(['get', 'roles'])).stdout).not.toMatch(/^ops\s/m);

    writeFileSync(join(dir, 'all.yaml'), docs.join('\n---\n'));
    const created = await cluster.ctl(['create', '-f', join(dir, 'all.yaml')]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^role "ops" created\nuser "otto" created\n\n {2}https:\/\/\S+\/web\/invite\/\S+\n\n {2}send it to otto/);
    expect(created.stdout).toMatch(/token "[0-9a-f]{12}" created\n\n {2}[A-Za-z0-9_-]{20,}\n\n {2}start an agent with --token=<it>/);
    expect(created.stdout).toMatch(/lock "[0-9a-f-]{36}" created\n {2}role ops is locked until \S+: change freeze/);
    expect((await cluster.ctl(['get', 'tokens'])).stdout).toMatch(/\bssh\b/);

    // What get prints goes back in: edited here to add a role.
    const shown = await cluster.ctl(['get', 'user', 'otto']);
    expect(shown.stdout).toMatch(/^kind: user\nversion: v1\nmetadata:\n {2}name: otto\n/);
    writeFileSync(join(dir, 'otto.yaml'), shown.stdout.replace('- ops', '- ops\n    - auditor'));
    expect((await cluster.ctl(['create', '-f', join(dir, 'otto.yaml')])).stdout).toBe('user "otto" updated\n');
    expect(JSON.parse((await cluster.ctl(['get', 'user', 'otto', '--format', 'json'])).stdout)).toMatchObject({ spec: { roles: ['ops', 'auditor'] } });

    writeFileSync(join(dir, 'app.yaml'), 'kind: app\nversion: v1\nmetadata: { name: grafana }');
    expect((await cluster.ctl(['create', '-f', join(dir, 'app.yaml')])).stderr).toContain("kind: app cannot be created from a file: apps are announced by agents; change it in its agent's configuration");
  });

  it('warns when the profile directory is readable by other users', async () => {
    const p = cluster.person();
    chmodSync(p.home, 0o755);
    const status = await p.run(['status']);
    expect(status.stderr).toContain(`warning: the profile directory ${p.home} is accessible by other users (mode 0755); run: chmod 700 ${p.home}`);
  });

  it('audit ls --follow prints new events as they happen', async () => {
    const follower = spawn(process.execPath, [CLI, 'ctl', 'audit', 'ls', '--follow', '--format', 'json', '--type', 'user.create', '--data-dir', cluster.server.dataDir]);
    let out = '';
    follower.stdout.on('data', (d: Buffer) => (out += d));
    try {
      await new Promise((r) => setTimeout(r, 700));
      expect((await cluster.ctl(['users', 'add', 'kim', '--roles=access'])).code).toBe(0);
      await eventually(() => (out.includes('"target":"kim"') ? true : undefined), () => `no event in: ${out}`, 5000);
      expect(out).not.toContain('"target":"carol"'); // only what happened after it started
    } finally {
      follower.kill();
    }
  });
});
