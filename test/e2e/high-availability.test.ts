import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { havePostgresServer, ThrowawayDatabases } from '../harness/pg-databases.js';
import { TestCluster } from '../helpers/cluster.js';
import { CLI, postern, run, tempDir } from '../helpers/postern.js';

const databases = new ThrowawayDatabases();
const clusters: TestCluster[] = [];
afterAll(async () => {
  await Promise.all(clusters.map((c) => c.stop()));
  await databases.dropAll();
});

/** A postern.yaml whose store is this PostgreSQL database. */
function postgresConfig(url: string): string {
  const file = join(tempDir('postern-ha-'), 'postern.yaml');
  writeFileSync(file, `storage:\n  type: postgres\n  conn_string: ${url}\n`);
  return file;
}

const serverUp = await havePostgresServer();

describe.runIf(serverUp)('high availability: PostgreSQL storage', () => {
  it('ctl backup from SQLite, ctl restore into PostgreSQL: the same users log in, with the same CA pin', async () => {
    const sqlite = await TestCluster.start();
    clusters.push(sqlite);
    const secret = await sqlite.addUser('alice', 'correct horse battery', 'access');
    const dir = tempDir('postern-backup-');
    const out = join(dir, 'cluster.yaml');
    const backup = await sqlite.ctl(['backup', '--out', out]);
    expect(backup.stderr).toMatch(/^backed up \d+ items of cluster postern\.localhost from .* to .*cluster\.yaml$/m);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    // Redirected by a shell, as the docs show: the file the shell made with the umask becomes 0600.
    const redirected = join(dir, 'redirected.yaml');
    const shell = await run('sh', ['-c', `umask 022 && "${process.execPath}" "${CLI}" ctl backup --data-dir "${sqlite.server.dataDir}" > "${redirected}"`]);
    expect(shell.code).toBe(0);
    expect(statSync(redirected).mode & 0o777).toBe(0o600);
    await sqlite.stop();

    const config = postgresConfig(await databases.create());
    const restored = await postern(['ctl', 'restore', out, '--config', config]);
    expect(restored.stdout).toMatch(/^restored \d+ items of cluster postern\.localhost into PostgreSQL at 127\.0\.0\.1:5432\/postern_test_/);
    const again = await postern(['ctl', 'restore', out, '--config', config]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/the store is not empty \(\d+ items, cluster postern\.localhost\): .*--force/);

    const pg = await TestCluster.start([], { config });
    clusters.push(pg);
    expect(pg.server.stdout).toMatch(/Storage: {6}PostgreSQL at 127\.0\.0\.1:5432\/postern_test_\w+\n/);
    expect(pg.pin).toBe(sqlite.pin);
    const person = pg.person();
    // The code comes from the first cluster's tracker: the restored store remembers the codes it saw.
    const login = await person.run(['login', `--proxy=${pg.proxy}`, '--user=alice', '--password-stdin', `--ca-pin=${sqlite.pin}`, '--otp', await sqlite.freshCode(secret)], 'correct horse battery');
    expect(login.stderr + login.stdout).toMatch(/logged in as alice/i);
    expect(login.code).toBe(0);
  });
});
