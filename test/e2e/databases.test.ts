import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, type Person } from '../helpers/cluster.js';
import { tempDir, type PosternProcess } from '../helpers/postern.js';

const PASSWORD = 'correct horse battery staple';

describe('databases: postern db ls', () => {
  let cluster: TestCluster;
  let agent: PosternProcess;
  let alice: Person;
  let bob: Person;

  beforeAll(async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'postern.yaml'), 'auth:\n  second_factor: off\n');
    cluster = await TestCluster.start(['--config', join(dir, 'postern.yaml')]);
    // Nothing needs to listen at the databases' addresses to list them.
    agent = await cluster.startAgent(['--db', 'name=orders,protocol=postgres,uri=127.0.0.1:15432,labels=env=dev,description=Orders', '--db', 'name=billing,protocol=mysql,uri=127.0.0.1:13306,labels=env=prod'], {
      token: await cluster.token('db'),
    });
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
    await cluster?.stop();
  });

  it('lists the databases a role allows, with the database users and names it allows on each', async () => {
    const text = await alice.run(['db', 'ls']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^NAME\s+PROTOCOL\s+LABELS\s+DB USERS\s+DB NAMES\s+DESCRIPTION\n/);
    expect(text.stdout).toMatch(/orders\s+postgres\s+env=dev\s+reader, alice\s+orders\s+Orders/);
    expect(text.stdout).not.toContain('billing'); // env=prod: no role of alice's allows it
    expect(text.stdout).not.toContain('scratch'); // denied by the same role
    const json = JSON.parse((await alice.run(['db', 'ls', 'env=dev', '--format', 'json'])).stdout);
    expect(json).toEqual([{ name: 'orders', protocol: 'postgres', labels: { env: 'dev' }, description: 'Orders', db_users: ['reader', 'alice'], db_names: ['orders'] }]);
    expect((await alice.run(['db', 'ls', 'env=prod'])).stdout).toContain('(no databases you may reach are online');
  });

  it('says how to get access when no role allows a database', async () => {
    const r = await bob.run(['db', 'ls']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('(no databases you may reach are online: ask an administrator for a role with db_labels and db_users)\n');
  });
});
