import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createConnection, type Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/eventually.js';
import { PrivateMariadb } from '../harness/mariadb.js';
import { freePort } from '../harness/ports.js';
import type { Person, TestCluster } from '../helpers/cluster.js';
import { ctrlCDuringQuery, signedInWithRole, startDbCluster } from '../helpers/db-cluster.js';
import { CLI, run, type PosternProcess } from '../helpers/postern.js';

const PASSWORD = 'correct horse battery staple';

interface AuditEvent {
  event: string;
  query?: string;
  protocol?: string;
  parameters?: number;
  reason?: string;
  [field: string]: unknown;
}

/**
 * A cluster with an agent serving a real MariaDB (a private server, set up with the lines `postern
 * ctl auth sign-db` prints, its users `REQUIRE SUBJECT`), reached with the real mariadb client and
 * the mysql2 driver.
 */
describe('MySQL / MariaDB databases', () => {
  let cluster: TestCluster;
  let agent: PosternProcess;
  let maria: PrivateMariadb;
  let alice: Person;

  beforeAll(async () => {
    const { cluster: started, dir, out, signed } = await startDbCluster();
    cluster = started;
    maria = await PrivateMariadb.fromSignDb(signed.stdout, out);
    // As sign-db prints it, for each database user.
    const createUser = signed.stdout.split('\n').find((l) => l.includes('CREATE USER'))!.trim();
    maria.sql(createUser);
    maria.sql("CREATE DATABASE orders; CREATE DATABASE other; GRANT ALL ON orders.* TO 'alice'@'%'; GRANT ALL ON other.* TO 'alice'@'%'");
    maria.sql('CREATE TABLE orders.items (id INT PRIMARY KEY, name TEXT); INSERT INTO orders.items VALUES (1, "pen"), (2, "ink")');

    agent = await cluster.startAgent(['--db', `name=maria,protocol=mysql,uri=127.0.0.1:${maria.port},labels=env=dev`], { token: await cluster.token('db') });
    alice = await signedInWithRole(cluster, dir, 'alice', PASSWORD, ['db_labels: { env: dev }', 'db_users: [alice, reader]']);
  });
  afterAll(async () => {
    await agent?.stop();
    maria?.stop();
    await cluster?.stop();
  });

  /** The user's audit events of one type, oldest first, once `ready` accepts them. */
  async function auditEvents(type: string, ready: (events: AuditEvent[]) => boolean): Promise<AuditEvent[]> {
    return eventually(async () => {
      const audit = await cluster.ctl(['audit', 'ls', '--format', 'json', '--type', type, '--user', 'alice', '--limit', '1000']);
      const events = audit.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent).reverse();
      return ready(events) ? events : undefined;
    }, () => `the ${type} events never became what the test waits for`);
  }

  /** Starts `postern proxy db maria --tunnel` as alice; resolves with its port and the line it printed. */
  async function tunnel(): Promise<{ port: number; printed: string; stop(): void }> {
    const port = await freePort();
    const listener = spawn(process.execPath, [CLI, 'proxy', 'db', 'maria', '--tunnel', '--port', String(port)], { env: { ...process.env, POSTERN_HOME: alice.home }, stdio: ['ignore', 'pipe', 'pipe'] });
    const [first] = (await once(listener.stdout, 'data')) as [Buffer];
    return { port, printed: String(first), stop: () => listener.kill() };
  }

  it('lists the database, and runs the mariadb client through postern db connect as the database user, with no password anywhere', async () => {
    const ls = await alice.run(['db', 'ls']);
    expect(ls.stdout).toMatch(/maria\s+mysql\s+env=dev\s+alice, reader\s+any/); // schemas are the database's to decide
    const r = await alice.run(['db', 'connect', 'maria', '--db-user', 'alice', '--db-name', 'orders', '--', '-N', '-B', '-e', 'select current_user(), database(), count(*) from items']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('alice@%\torders\t2\n');
    expect(r.code).toBe(0);
    const [end] = await auditEvents('db.session.end', (events) => events.length > 0);
    expect(end).toMatchObject({ code: 'PA2201I', db: 'maria', db_user: 'alice', db_name: 'orders', reason: 'ended' });
    const queries = await auditEvents('db.query', (events) => events.some((e) => e.query?.includes('count(*) from items')));
    expect(queries.find((e) => e.query?.includes('count(*)'))).toMatchObject({ protocol: 'query', db: 'maria', db_user: 'alice', query: 'select current_user(), database(), count(*) from items' });
  });

  it('passes the exit code through, and the database decides what the user may do', async () => {
    const r = await alice.run(['db', 'connect', 'maria', '--db-user', 'alice', '--', '-e', 'select * from mysql.user']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ERROR 1142 \(42000\).*SELECT command denied to user 'alice'/);
  });

  it('refuses a database user the roles do not allow, and mariadb prints why', async () => {
    const r = await alice.run(['db', 'connect', 'maria', '--db-user', 'root', '--', '-e', 'select 1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ERROR 1045 \(28000\).*may not connect to database maria as root.*role db-dev allows db "maria" but not database user "root"/s);
    // Allowed by the role, unknown to the database: the database's own refusal reaches the client.
    const unknown = await alice.run(['db', 'connect', 'maria', '--db-user', 'reader', '--', '-e', 'select 1']);
    expect(unknown.stderr).toMatch(/ERROR 1045 \(28000\): Access denied for user 'reader'/);
    expect((await alice.run(['db', 'connect', 'maria'])).stderr).toContain('--db-user is needed: your roles allow alice, reader on maria');
  });

  it('carries a driver (mysql2: prepared statements, a schema change) through postern proxy db --tunnel, and audits each statement', async () => {
    const listener = await tunnel();
    let conn: Connection | undefined;
    try {
      expect(listener.printed).toContain(`Connect with: mariadb -h 127.0.0.1 -P ${listener.port} -u alice --skip-ssl`);
      conn = await createConnection({ host: '127.0.0.1', port: listener.port, user: 'alice', database: 'orders' });
      const [rows] = await conn.execute('SELECT name FROM items WHERE id = ? AND name <> ?', [2, 'x']);
      expect(rows).toEqual([{ name: 'ink' }]);
      await conn.query('USE other');
      await conn.query('CREATE TABLE t (x INT)');
      const [[row]] = (await conn.query('SELECT database() AS db')) as unknown as [[{ db: string }]];
      expect(row.db).toBe('other');
    } finally {
      await conn?.end();
      listener.stop();
    }
    const queries = await auditEvents('db.query', (events) => events.some((e) => e.query === 'CREATE TABLE t (x INT)'));
    expect(queries).toContainEqual(expect.objectContaining({ protocol: 'prepare', query: 'SELECT name FROM items WHERE id = ? AND name <> ?' }));
    expect(queries).toContainEqual(expect.objectContaining({ protocol: 'execute', query: 'SELECT name FROM items WHERE id = ? AND name <> ?', parameters: 2 }));
    expect(queries).toContainEqual(expect.objectContaining({ protocol: 'query', query: 'USE other' }));
  });

  it('serves TLS with the files of postern db login without --tunnel, to the mariadb client and to a driver', async () => {
    const port = await freePort();
    const listener = spawn(process.execPath, [CLI, 'proxy', 'db', 'maria', '--port', String(port), '--db-user', 'alice'], { env: { ...process.env, POSTERN_HOME: alice.home }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const [first] = (await once(listener.stdout, 'data')) as [Buffer];
      const args = /Connect with: mariadb (.+?) {3}/.exec(String(first))![1]!.split(' ');
      expect(args).toEqual(expect.arrayContaining(['-h', 'localhost', '-P', String(port), '--protocol=TCP', '-u', 'alice', '--ssl-verify-server-cert']));
      const r = await run('mariadb', ['--no-defaults', ...args, 'orders', '-N', '-B', '-e', "select current_user(), count(*) from items; show session status like 'Ssl_cipher'"]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^alice@%\t2\nSsl_cipher\t\S+/); // Ssl_cipher: the agent's TLS to the server
      const file = (flag: string) => args.find((a) => a.startsWith(flag))!.split('=')[1]!;
      const conn = await createConnection({ host: 'localhost', port, user: 'alice', database: 'orders', ssl: { ca: readFileSync(file('--ssl-ca')), cert: readFileSync(file('--ssl-cert')), key: readFileSync(file('--ssl-key')) } });
      const [rows] = await conn.execute('SELECT name FROM items WHERE id = ?', [1]);
      expect(rows).toEqual([{ name: 'pen' }]);
      await conn.end();
      // Without TLS, the listener refuses, with what to do.
      const plain = await run('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', String(port), '-u', 'alice', '--skip-ssl', '-e', 'select 1']);
      expect(plain.stderr).toContain('this listener needs TLS with the client certificate from `postern db login`');
    } finally {
      listener.kill();
    }
  });

  it('stops a session that sends COM_CHANGE_USER, and the driver gets the reason', async () => {
    const listener = await tunnel();
    const conn = await createConnection({ host: '127.0.0.1', port: listener.port, user: 'alice', database: 'orders' });
    try {
      await expect(conn.changeUser({ user: 'root' })).rejects.toThrow(/COM_CHANGE_USER .* is not allowed through Postern/);
    } finally {
      conn.destroy();
      listener.stop();
    }
    const ends = await auditEvents('db.session.end', (events) => events.some((e) => e.reason?.startsWith('stopped:')));
    expect(ends.find((e) => e.reason?.startsWith('stopped:'))!.reason).toContain('COM_CHANGE_USER');
  });

  it('records a change of schema from the mariadb client (COM_INIT_DB)', async () => {
    const r = await alice.run(['db', 'connect', 'maria', '--db-user', 'alice', '--db-name', 'orders'], 'use other\nselect database();\n');
    expect(r.stdout).toContain('other');
    const queries = await auditEvents('db.query', (events) => events.some((e) => e.protocol === 'init_db'));
    expect(queries.find((e) => e.protocol === 'init_db')).toMatchObject({ query: 'other', db: 'maria' });
  });

  it("cancels a running query on the mariadb client's Ctrl-C (its KILL QUERY names Postern's connection id, sent on as the server's)", async () => {
    const running = () => maria.sql("SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'select sleep(30)%'").trim() === '1';
    const started = Date.now();
    const { code, stdout, stderr } = await ctrlCDuringQuery(alice, ['maria', '--db-user', 'alice', '--', '-e', 'select sleep(30)'], running, 'mariadb');
    expect(stderr).toContain('Query execution was interrupted');
    expect(stdout).toContain('Ctrl-C -- query killed.');
    expect(code).toBe(1);
    expect(Date.now() - started).toBeLessThan(15_000);
    const kills = await auditEvents('db.session.end', (events) => events.some((e) => String(e.reason).includes(', sent on as KILL QUERY')));
    expect(kills.find((e) => String(e.reason).includes('sent on as'))!.reason).toMatch(/^stopped: KILL QUERY \d{10}, sent on as KILL QUERY \d+$/);
  });

  it("greets clients with the server's own version once the agent has told it", async () => {
    // The earlier tests' sessions told the proxy; the mariadb client shows the greeting's version.
    const r = await alice.run(['db', 'connect', 'maria', '--db-user', 'alice', '--', '-e', 'status']);
    expect(r.stdout).toMatch(/Server version:\s+10\.\d+\.\d+-MariaDB/);
    expect(r.stdout).not.toContain('Postern');
  });

  it('ends a running query within a second of a lock on the user', async () => {
    const sleeping = alice.run(['db', 'connect', 'maria', '--db-user', 'alice', '--', '-e', 'select sleep(60)']);
    await eventually(() => (maria.sql("select count(*) from information_schema.processlist where info like 'select sleep%'").trim() === '1' ? true : undefined), () => 'the query never started', 10_000);
    expect((await cluster.ctl(['lock', '--user', 'alice', '--message', 'incident 13'])).code).toBe(0);
    const locked = Date.now();
    const r = await sleeping;
    expect(Date.now() - locked).toBeLessThan(2000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Lost connection to server|server has gone away/i);
    const ends = await auditEvents('db.session.end', (events) => events.some((e) => e.reason?.includes('incident 13')));
    expect(ends.some((e) => e.reason?.startsWith('revoked: '))).toBe(true);
  });
});
