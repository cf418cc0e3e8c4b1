import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrivateMariadb } from '../harness/mariadb.js';
import { PrivatePostgres } from '../harness/postgres.js';
import type { Person, TestCluster } from '../helpers/cluster.js';
import { ctrlCDuringQuery, signedInWithRole, startDbCluster } from '../helpers/db-cluster.js';
import { tempDir, type PosternProcess } from '../helpers/postern.js';

const PASSWORD = 'correct horse battery staple';
/** Spaces, a comma, an equals sign and a non-ASCII letter: none may upset SCRAM, md5 or a length byte. */
const PG_PASSWORD = 'pg pass, with = and ü';
const MARIA_PASSWORD = 'maria pass, with = and ü';
/** PostgreSQL roles, one per password method of pg_hba.conf, all with PG_PASSWORD. */
const PG_ROLES = { app: 'scram-sha-256', legacy: 'md5', plain: 'password' } as const;

/**
 * An agent serving a real PostgreSQL and a real MariaDB whose users log in with passwords (the
 * fallback for databases that cannot take certificates): the passwords are in files on the
 * agent's host, and psql and mariadb, run by `postern db connect`, never see them. MariaDB 10.11
 * has no caching_sha2_password; the agent's unit tests cover it (src/agent/db-connector.test.ts).
 */
describe('database passwords from the agent’s password files', () => {
  let cluster: TestCluster;
  let agent: PosternProcess;
  let pg: PrivatePostgres;
  let maria: PrivateMariadb;
  let alice: Person;
  let pgFile: string;
  let mariaFile: string;

  beforeAll(async () => {
    const { cluster: started, dir, out, signed } = await startDbCluster();
    cluster = started;

    // TLS as sign-db prints it; these roles log in with passwords (their lines come before sign-db's `cert` ones).
    pg = await PrivatePostgres.fromSignDb(signed.stdout, out, { hba: Object.entries(PG_ROLES).map(([role, method]) => `hostssl all ${role} 127.0.0.1/32 ${method}`) });
    pg.sql(`CREATE ROLE app LOGIN PASSWORD '${PG_PASSWORD}'`);
    pg.sql(`SET password_encryption = md5; CREATE ROLE legacy LOGIN PASSWORD '${PG_PASSWORD}'`);
    pg.sql(`CREATE ROLE plain LOGIN PASSWORD '${PG_PASSWORD}'`);
    expect(pg.sql("select string_agg(rolname || ':' || left(rolpassword, 3), ' ' order by rolname) from pg_authid where rolname in ('app', 'legacy')").trim()).toBe('app:SCR legacy:md5');

    maria = await PrivateMariadb.fromSignDb(signed.stdout, out);
    maria.sql(`CREATE USER 'app'@'%' IDENTIFIED BY '${MARIA_PASSWORD}' REQUIRE SSL; CREATE DATABASE orders; GRANT ALL ON orders.* TO 'app'@'%'`);

    const files = tempDir();
    pgFile = join(files, 'pg.password');
    mariaFile = join(files, 'maria.password');
    writeFileSync(pgFile, `${PG_PASSWORD}\n`, { mode: 0o600 });
    writeFileSync(mariaFile, `${MARIA_PASSWORD}\n`);
    chmodSync(mariaFile, 0o644); // the agent warns at start, and still serves it
    agent = await cluster.startAgent(
      [
        '--db', `name=pg,protocol=postgres,uri=127.0.0.1:${pg.port},password_file=${pgFile},labels=env=dev`,
        '--db', `name=maria,protocol=mysql,uri=127.0.0.1:${maria.port},password_file=${mariaFile},labels=env=dev`,
        '--db', `name=nofile,protocol=postgres,uri=127.0.0.1:${pg.port},password_file=/nonexistent/pg.password,labels=env=dev`,
        // A managed database's own CA is given with ca_file: here a copy of the right one, and one that did not sign it.
        '--db', `name=ownca,protocol=postgres,uri=127.0.0.1:${pg.port},password_file=${pgFile},ca_file=${copyOf(join(out, 'ca.crt'))},labels=env=dev`,
        '--db', `name=otherca,protocol=postgres,uri=127.0.0.1:${pg.port},password_file=${pgFile},ca_file=${otherCa()},labels=env=dev`,
      ],
      { token: await cluster.token('db') },
    );
    alice = await signedInWithRole(cluster, dir, 'alice', PASSWORD, ['db_labels: { env: dev }', 'db_users: [app, legacy, plain]', 'db_names: [postgres, orders]']);
  });
  afterAll(async () => {
    await agent?.stop();
    pg?.stop();
    maria?.stop();
    await cluster?.stop();
  });

  const psql = (db: string, user: string, sql: string) => alice.run(['db', 'connect', db, '--db-user', user, '--db-name', 'postgres', '--', '-tAc', sql]);
  const mariadb = (sql: string) => alice.run(['db', 'connect', 'maria', '--db-user', 'app', '--db-name', 'orders', '--', '-N', '-B', '-e', sql]);

  it('runs psql as roles that log in with SCRAM-SHA-256, md5 and a cleartext password, over TLS, with no password on the client', async () => {
    for (const role of Object.keys(PG_ROLES)) {
      const r = await psql('pg', role, 'select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()');
      expect(r.stderr, role).toBe('');
      expect(r.stdout).toBe(`${role}|t\n`);
      expect(r.code).toBe(0);
    }
  });

  it('runs the mariadb client as a user IDENTIFIED BY a password (mysql_native_password), over TLS', async () => {
    const r = await mariadb("select current_user(), variable_value <> '' from information_schema.session_status where variable_name = 'Ssl_cipher'");
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('app@%\t1\n');
  });

  it("gives the client the database's own refusal for a wrong password, and reads a rotated file at the next session", async () => {
    writeFileSync(pgFile, 'not the password\n');
    writeFileSync(mariaFile, 'not the password\n');
    try {
      const pgWrong = await psql('pg', 'app', 'select 1');
      expect(pgWrong.code).toBe(2);
      expect(pgWrong.stderr).toMatch(/FATAL: {2}password authentication failed for user "app"/);
      const mariaWrong = await mariadb('select 1');
      expect(mariaWrong.code).toBe(1);
      expect(mariaWrong.stderr).toMatch(/ERROR 1045 \(28000\).*Access denied for user 'app'@'127\.0\.0\.1' \(using password: YES\)/);
    } finally {
      writeFileSync(pgFile, `${PG_PASSWORD}\n`);
      writeFileSync(mariaFile, `${MARIA_PASSWORD}\n`);
    }
    expect((await psql('pg', 'app', 'select current_user')).stdout).toBe('app\n');
    expect((await mariadb('select current_user()')).stdout).toBe('app@%\n');
  });

  it("checks the database's server certificate against the CA of ca_file", async () => {
    const own = await psql('ownca', 'app', 'select current_user');
    expect(own.stdout, own.stderr).toBe('app\n');
    const other = await psql('otherca', 'app', 'select 1');
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/could not connect to db "otherca".*TLS to the database failed \(SELF_SIGNED_CERT_IN_CHAIN: .*signed by the cluster's db CA .*or by the CA of the database's ca_file/s);
  });

  it('refuses a session when the password file is missing, naming the file, and warned at start', async () => {
    const r = await psql('nofile', 'app', 'select 1');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the password file /nonexistent/pg.password of database nofile cannot be read (ENOENT: no such file or directory)');
    expect(agent.logs.map((l) => l.msg)).toEqual(
      expect.arrayContaining([
        'the password file /nonexistent/pg.password of database nofile cannot be read (ENOENT: no such file or directory); sessions to nofile are refused until it can',
        `the password file ${mariaFile} of database maria is open to other users (mode 0644); chmod 600 it, owned by the agent's user`,
      ]),
    );
    expect((await psql('pg', 'app', 'select 1')).code).toBe(0); // the agent serves on
  });

  it("cancels a running query on psql's Ctrl-C in a session the agent logged in with a password", async () => {
    const running = () => pg.sql("select count(*) from pg_stat_activity where query like 'select pg_sleep%'").trim() === '1';
    const { stderr } = await ctrlCDuringQuery(alice, ['pg', '--db-user', 'app', '--db-name', 'postgres', '--', '-tAc', 'select pg_sleep(30)'], running);
    expect(stderr).toContain('ERROR:  canceling statement due to user request');
  });

  it('writes no password to any log, and announces no password file', async () => {
    for (const secret of [PG_PASSWORD, MARIA_PASSWORD]) {
      expect(agent.stderr).not.toContain(secret);
      expect(cluster.server.stderr).not.toContain(secret);
    }
    const dbs = await cluster.ctl(['get', 'dbs', '--format', 'json']);
    expect(dbs.code, dbs.stderr).toBe(0);
    expect(dbs.stdout).toContain('"maria"');
    expect(dbs.stdout).not.toContain('password');
  });
});

/** A copy of `file` in a directory of its own. */
function copyOf(file: string): string {
  const copy = join(tempDir(), 'ca.pem');
  copyFileSync(file, copy);
  return copy;
}

/** A CA certificate that signed nothing the tests use. */
function otherCa(): string {
  const dir = tempDir();
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'), '-subj', '/CN=another CA', '-days', '1'], { stdio: 'ignore' });
  return join(dir, 'ca.pem');
}
