import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { eventually } from '../harness/eventually.js';
import { TestCluster, type Person } from './cluster.js';
import { CLI, tempDir, type RunResult } from './postern.js';

/**
 * A cluster for the database tests: people sign in with a password only, and `ctl auth sign-db`
 * has written a database server's key, certificate and the db CA to `out`, as on a database host
 * (`signed` is what it printed: the lines to configure). `dir` holds the cluster's postern.yaml,
 * for role files beside it; `proxyYaml` adds lines under its `proxy:` (indented already).
 */
export async function startDbCluster(proxyYaml = ''): Promise<{ cluster: TestCluster; dir: string; out: string; signed: RunResult }> {
  const dir = tempDir();
  writeFileSync(join(dir, 'postern.yaml'), `auth:\n  second_factor: off\n${proxyYaml ? `proxy:\n${proxyYaml}` : ''}`);
  const cluster = await TestCluster.start(['--config', join(dir, 'postern.yaml')]);
  const out = join(tempDir(), 'postern-db');
  const signed = await cluster.ctl(['auth', 'sign-db', '--host=127.0.0.1', `--out=${out}`]);
  expect(signed.code, signed.stderr).toBe(0);
  return { cluster, dir, out, signed };
}

/**
 * Runs `postern db connect ARGS` as `person`, waits until `running()` sees its query in the
 * database, then presses Ctrl-C as a terminal does: SIGINT to postern and the database client
 * (`client`) alike. Resolves with the exit code and what it printed to stdout and stderr.
 */
export async function ctrlCDuringQuery(person: Person, args: string[], running: () => boolean, client = 'psql'): Promise<{ code: number; stdout: string; stderr: string }> {
  const connect = spawn(process.execPath, [CLI, 'db', 'connect', ...args], { env: { ...process.env, POSTERN_HOME: person.home }, stdio: ['ignore', 'pipe', 'pipe'] });
  let [stdout, stderr] = ['', ''];
  connect.stdout.on('data', (d: Buffer) => (stdout += d));
  connect.stderr.on('data', (d: Buffer) => (stderr += d));
  try {
    await eventually(() => (running() ? true : undefined), () => 'the query never started', 10_000);
    const clientPid = Number(execFileSync('pgrep', ['-P', String(connect.pid), client]).toString().trim());
    process.kill(clientPid, 'SIGINT');
    connect.kill('SIGINT');
    const [code] = (await once(connect, 'exit')) as [number];
    return { code, stdout, stderr };
  } finally {
    connect.kill('SIGKILL');
  }
}

/** Creates role `db-dev` from the YAML lines under `allow:`, and a user with only that role, signed in. */
export async function signedInWithRole(cluster: TestCluster, dir: string, user: string, password: string, allow: string[]): Promise<Person> {
  writeFileSync(join(dir, 'roles.yaml'), `kind: role\nversion: v1\nmetadata: { name: db-dev }\nspec:\n  allow:\n${allow.map((l) => `    ${l}\n`).join('')}`);
  expect((await cluster.ctl(['create', '-f', join(dir, 'roles.yaml')])).code).toBe(0);
  await cluster.addUser(user, password, 'db-dev');
  const person = cluster.person();
  expect((await person.login(user, password, '')).code).toBe(0);
  return person;
}
