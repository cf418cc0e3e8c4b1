import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readClusterState } from '../../src/auth/cluster-state.js';
import { issueCertificate } from '../../src/pki/authority.js';
import { generateKeyPair, privateKeyToPem } from '../../src/pki/crypto.js';
import { SqliteBackend, storePath } from '../../src/storage/sqlite/sqlite-backend.js';
import { launchChromium, spkiFromPin } from '../harness/browser.js';
import { eventually } from '../harness/eventually.js';
import { freePort } from '../harness/ports.js';
import { PrivatePostgres } from '../harness/postgres.js';
import type { Person, TestCluster } from '../helpers/cluster.js';
import { ctrlCDuringQuery, startDbCluster } from '../helpers/db-cluster.js';
import { CLI, run, tempDir, type PosternProcess, type RunResult } from '../helpers/postern.js';

const PASSWORD = 'correct horse battery staple';

/**
 * A cluster with an agent serving a real PostgreSQL (a private cluster, set up with the lines
 * `postern ctl auth sign-db` prints) and two databases nothing listens at, for listing.
 */
describe('databases', () => {
  let cluster: TestCluster;
  let agent: PosternProcess;
  let pg: PrivatePostgres;
  let out: string;
  let signed: RunResult;
  let alice: Person;
  let bob: Person;

  beforeAll(async () => {
    const started = await startDbCluster();
    ({ cluster, out, signed } = started);
    const { dir } = started;
    // Configured with the lines exactly as printed: postgresql.conf's ssl settings and pg_hba.conf's hostssl lines.
    pg = await PrivatePostgres.fromSignDb(signed.stdout, out);
    pg.sql('CREATE ROLE alice LOGIN');
    pg.sql('CREATE ROLE reader LOGIN');
    pg.sql('CREATE DATABASE orders OWNER alice');

    agent = await cluster.startAgent(
      [
        '--db', `name=pg,protocol=postgres,uri=127.0.0.1:${pg.port},labels=env=dev`,
        // Nothing needs to listen at these addresses to list them.
        '--db', 'name=orders,protocol=postgres,uri=127.0.0.1:1,labels=env=dev,description=Orders',
        '--db', 'name=billing,protocol=mysql,uri=127.0.0.1:2,labels=env=prod',
      ],
      { token: await cluster.token('db') },
    );
    writeFileSync(
      join(dir, 'roles.yaml'),
      'kind: role\nversion: v1\nmetadata: { name: db-dev }\nspec:\n  allow:\n    db_labels: { env: dev }\n    db_users: [reader, "{{internal.db_users}}"]\n    db_names: [orders, scratch]\n  deny:\n    db_labels: { "*": "*" }\n    db_names: [scratch]\n',
    );
    expect((await cluster.ctl(['create', '-f', join(dir, 'roles.yaml')])).code).toBe(0);
    await cluster.addUser('alice', PASSWORD, 'db-dev', ['--traits=db_users=alice']);
    await cluster.addUser('bob', PASSWORD, 'access');
    alice = cluster.person();
    bob = cluster.person();
    expect((await alice.login('alice', PASSWORD, '')).code).toBe(0);
    expect((await bob.login('bob', PASSWORD, '')).code).toBe(0);
  });
  afterAll(async () => {
    await agent?.stop();
    pg?.stop();
    await cluster?.stop();
  });

  it('lists the databases a role allows, with the database users and names it allows on each', async () => {
    const text = await alice.run(['db', 'ls']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^NAME\s+PROTOCOL\s+LABELS\s+DB USERS\s+DB NAMES\s+DESCRIPTION\n/);
    expect(text.stdout).toMatch(/orders\s+postgres\s+env=dev\s+reader, alice\s+orders\s+Orders/);
    expect(text.stdout).not.toContain('billing'); // env=prod: no role of alice's allows it
    expect(text.stdout).not.toContain('scratch'); // denied by the same role
    const json = JSON.parse((await alice.run(['db', 'ls', 'env=dev', '--format', 'json'])).stdout) as { name: string }[];
    expect(json.find((d) => d.name === 'orders')).toEqual({ name: 'orders', protocol: 'postgres', labels: { env: 'dev' }, description: 'Orders', db_users: ['reader', 'alice'], db_names: ['orders'] });
    expect((await alice.run(['db', 'ls', 'env=prod'])).stdout).toContain('(no databases you may reach are online');
  });

  it('lists the databases in the web UI, with the command that connects', async () => {
    const browser = await launchChromium({ trustSpki: [spkiFromPin(cluster.pin)] });
    try {
      const page = await (await browser.newContext()).newPage();
      page.setDefaultTimeout(10_000);
      await page.goto(cluster.server.url('/web'));
      await page.getByLabel('User name').fill('alice');
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const list = page.getByRole('list', { name: 'Resources' });
      await list.waitFor();
      expect(await list.locator('[data-db]').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-db')))).toEqual(['orders', 'pg']);
      const pgCard = list.locator('[data-db="pg"]');
      expect(await pgCard.getByTestId('db-command').innerText()).toBe('postern db connect pg --db-user=reader --db-name=orders');
      expect(await pgCard.innerText()).toMatch(/PostgreSQL[\s\S]*env=dev[\s\S]*As reader, alice, in orders/i);
    } finally {
      await browser.close();
    }
  });

  it('says how to get access when no role allows a database', async () => {
    const r = await bob.run(['db', 'ls']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('(no databases you may reach are online: ask an administrator for a role with db_labels and db_users)\n');
  });

  it('signs a database server certificate, and PostgreSQL configured as ctl auth sign-db says accepts db CA client certificates instead of passwords', async () => {
    expect(signed.stdout).toContain(`Wrote server.key (0600), server.crt and ca.crt to ${out}`);
    expect(statSync(join(out, 'server.key')).mode & 0o777).toBe(0o600);
    expect((await cluster.ctl(['auth', 'sign-db', '--host=127.0.0.1', `--out=${out}`])).stderr).toContain('server.key exists already'); // never overwrites a key
    const lines = JSON.parse((await cluster.ctl(['auth', 'sign-db', '--host=127.0.0.1', `--out=${out}-2`, '--format', 'json'])).stdout) as { postgres: string[]; mysql: string[] };
    expect(lines.mysql).toContain("CREATE USER 'alice'@'%' REQUIRE SUBJECT '/O=postern.localhost/CN=alice';");

    const psql = (user: string, extra: string) =>
      run('psql', [`host=127.0.0.1 port=${pg.port} user=${user} dbname=postgres sslmode=verify-full sslrootcert=${join(out, 'ca.crt')} ${extra}`, '-tAc', 'select current_user']);
    const cert = await clientCertificate('alice');
    const ok = await psql('alice', `sslcert=${cert.cert} sslkey=${cert.key}`);
    expect(ok.stdout.trim(), ok.stderr).toBe('alice');
    const asOther = await psql('postgres', `sslcert=${cert.cert} sslkey=${cert.key}`); // the CN names the only user it opens
    expect(asOther.stderr).toContain('certificate authentication failed for user "postgres"');
    expect((await psql('alice', 'sslcert=/nonexistent/client.crt sslkey=/nonexistent/client.key')).stderr).toMatch(/connection requires a valid client certificate|certificate authentication failed/);
  });

  it('runs psql through postern db connect, as the database user the roles allow, with no password anywhere', async () => {
    const r = await alice.run(['db', 'connect', 'pg', '--db-user', 'alice', '--db-name', 'orders', '--', '-tAc', 'select current_user, current_database()']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('alice|orders\n');
    expect(r.code).toBe(0);
    await eventually(async () => {
      const audit = await cluster.ctl(['audit', 'ls', '--format', 'json', '--type', 'db.session.end', '--user', 'alice']);
      return audit.stdout.trim() ? (JSON.parse(audit.stdout.trim().split('\n')[0]!) as Record<string, unknown>) : undefined;
    }, () => 'no db.session.end event').then((event) => expect(event).toMatchObject({ event: 'db.session.end', code: 'PA2201I', db: 'pg', db_user: 'alice', db_name: 'orders', reason: 'ended' }));
  });

  it('refuses a database user or name the roles do not allow, and psql prints why', async () => {
    const user = await alice.run(['db', 'connect', 'pg', '--db-user', 'postgres', '--db-name', 'orders', '--', '-tAc', 'select 1']);
    expect(user.code).toBe(2);
    expect(user.stderr).toMatch(/FATAL: {2}.*may not connect to database pg as postgres.*role db-dev allows db "pg" but not database user "postgres"/s);
    const name = await alice.run(['db', 'connect', 'pg', '--db-user', 'alice', '--db-name', 'scratch', '--', '-tAc', 'select 1']);
    expect(name.stderr).toMatch(/FATAL: {2}.*role db-dev denies db "pg" as database user "alice" and database name "scratch"/s);
    // \c in psql opens a new connection: it is decided again, and refused with the reasons too.
    const reconnect = await alice.run(['db', 'connect', 'pg', '--db-user', 'alice', '--db-name', 'orders'], '\\c scratch\nselect current_database();\n');
    expect(reconnect.stderr).toMatch(/\\connect: .*FATAL: {2}.*denies db "pg" as database user "alice" and database name "scratch"/);
    expect((await alice.run(['db', 'connect', 'pg'])).stderr).toContain('--db-user is needed: your roles allow reader, alice on pg');
    expect((await alice.run(['db', 'connect', 'billing', '--db-user', 'alice'])).stderr).toContain('there is no database "billing" you may reach online');
  });

  it('carries pgbench (extended protocol) through postern proxy db --tunnel, and audits its statements', async () => {
    const port = await freePort();
    const listener = spawn(process.execPath, [CLI, 'proxy', 'db', 'pg', '--tunnel', '--port', String(port)], { env: { ...process.env, POSTERN_HOME: alice.home }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const [first] = (await once(listener.stdout, 'data')) as [Buffer];
      expect(String(first)).toContain(`Proxying 127.0.0.1:${port} → database pg.`);
      const pgbench = (args: string[]) => run('pgbench', ['-h', '127.0.0.1', '-p', String(port), '-U', 'alice', ...args, 'orders']);
      const init = await pgbench(['-i', '-s', '1', '-q']);
      expect(init.code, init.stderr).toBe(0);
      const bench = await pgbench(['-n', '-t', '20', '-c', '2', '-M', 'extended']);
      expect(bench.code, bench.stderr).toBe(0);
      expect(bench.stdout).toContain('number of transactions actually processed: 40/40');
    } finally {
      listener.kill();
    }
    const queries = await eventually(async () => {
      const audit = await cluster.ctl(['audit', 'ls', '--format', 'json', '--type', 'db.query', '--user', 'alice', '--limit', '1000']);
      const events = audit.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { query: string; protocol: string; parameters?: number });
      return events.filter((e) => e.query.startsWith('UPDATE pgbench_accounts')).length >= 40 ? events : undefined;
    }, () => 'fewer than 40 pgbench updates in the audit log');
    expect(queries.find((e) => e.query.startsWith('UPDATE pgbench_accounts'))).toMatchObject({ protocol: 'extended', parameters: 2, query: 'UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;' });
    expect(queries.some((e) => e.protocol === 'simple' && /create table/i.test(e.query))).toBe(true); // pgbench -i
  });

  it('serves TLS with the files of postern db login without --tunnel, and refuses clients without them', async () => {
    const login = await alice.run(['db', 'login']);
    expect(login.code, login.stderr).toBe(0);
    const dir = join(alice.home, 'profiles');
    expect(login.stdout).toMatch(/^Wrote: .*client\.crt, .*client\.key \(0600\) and .*ca\.crt\.\n/);
    const key = /, (\S+client\.key) \(0600\)/.exec(login.stdout)![1]!;
    expect(key.startsWith(dir)).toBe(true);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect((await alice.run(['db', 'login'])).stdout).toMatch(/^Already there: /);

    const port = await freePort();
    const listener = spawn(process.execPath, [CLI, 'proxy', 'db', 'pg', '--port', String(port), '--db-user', 'alice'], { env: { ...process.env, POSTERN_HOME: alice.home }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    listener.stderr.on('data', (d: Buffer) => (stderr += d));
    try {
      const [first] = (await once(listener.stdout, 'data')) as [Buffer];
      const conninfo = /Connect with: psql "([^"]+)"/.exec(String(first))![1]!;
      expect(conninfo).toContain(`host=localhost port=${port} user=alice dbname=orders sslmode=verify-full sslrootcert=`);
      const ok = await run('psql', [conninfo, '-tAc', 'select current_user']); // verify-full: only over TLS, the listener's certificate checked
      expect(ok.stdout, ok.stderr).toBe('alice\n');
      // No TLS: refused by the listener, with what to do.
      const plain = await run('psql', [`host=127.0.0.1 port=${port} user=alice dbname=orders sslmode=disable`, '-tAc', 'select 1']);
      expect(plain.stderr).toContain('this listener needs TLS with the client certificate from `postern db login`');
      // TLS without the client certificate: refused at the handshake.
      const noCert = await run('psql', [`host=localhost port=${port} user=alice dbname=orders sslmode=verify-full sslrootcert=${/sslrootcert=(\S+)/.exec(conninfo)![1]}`, '-tAc', 'select 1']);
      expect(noCert.code).not.toBe(0);
      await eventually(() => (stderr.includes("a database client's TLS failed") ? true : undefined), () => `the listener did not say why: ${stderr}`);
    } finally {
      listener.kill();
    }
    const logout = await alice.run(['db', 'logout']);
    expect(logout.stdout).toMatch(/^Removed .*db\.\n/);
    expect((await alice.run(['db', 'logout'])).stdout).toContain('Nothing to remove');
  });

  it("cancels a running query on psql's Ctrl-C, through the proxy", async () => {
    const running = () => pg.sql("select count(*) from pg_stat_activity where query like 'select pg_sleep%'").trim() === '1';
    const { code, stderr } = await ctrlCDuringQuery(alice, ['pg', '--db-user', 'alice', '--db-name', 'orders', '--', '-tAc', 'select pg_sleep(30)'], running);
    expect(stderr).toContain('ERROR:  canceling statement due to user request');
    expect(code).toBe(1);
  });

  it('ends a running query within a second of a lock on the user', async () => {
    const sleeping = alice.run(['db', 'connect', 'pg', '--db-user', 'alice', '--db-name', 'orders', '--', '-tAc', 'select pg_sleep(60)']);
    await eventually(() => (pg.sql("select count(*) from pg_stat_activity where query like 'select pg_sleep%'").trim() === '1' ? true : undefined), () => 'the query never started', 10_000);
    expect((await cluster.ctl(['lock', '--user', 'alice', '--message', 'incident 12'])).code).toBe(0);
    const locked = Date.now();
    const r = await sleeping;
    expect(Date.now() - locked).toBeLessThan(2000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/server closed the connection unexpectedly|connection to server was lost|SSL SYSCALL error/);
    const end = await cluster.ctl(['audit', 'ls', '--format', 'json', '--type', 'db.session.end', '--user', 'alice']);
    expect(end.stdout).toMatch(/"reason":"revoked: [^"]*incident 12/);
  });

  /** A client certificate for a database user from the cluster's db CA: what agents present. */
  async function clientCertificate(user: string): Promise<{ cert: string; key: string }> {
    const backend = new SqliteBackend({ path: storePath(cluster.server.dataDir) });
    try {
      const state = await readClusterState(backend, cluster.server.dataDir);
      const keys = await generateKeyPair();
      const cert = await issueCertificate(state.authorities.db, { publicKey: keys.publicKey, commonName: user, ttlMs: 600_000, usage: 'client' });
      const dir = tempDir();
      writeFileSync(join(dir, 'client.crt'), cert.toString('pem'));
      writeFileSync(join(dir, 'client.key'), await privateKeyToPem(keys.privateKey), { mode: 0o600 });
      return { cert: join(dir, 'client.crt'), key: join(dir, 'client.key') };
    } finally {
      await backend.close();
    }
  }
});
