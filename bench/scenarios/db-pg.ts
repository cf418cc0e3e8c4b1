import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { freePort } from '../../test/harness/ports.js';
import { PrivatePostgres } from '../../test/harness/postgres.js';
import { tempDir } from '../../test/harness/temp.js';
import type { BenchTls } from '../lib/fixture.js';
import { ServerProcess } from '../lib/server-process.js';
import { median, type Row } from '../lib/stats.js';
import { BenchCluster } from '../lib/tunnel-cluster.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function exec(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(file, args, (err, stdout, stderr) => (err ? reject(new Error(`${file} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout))));
}

/** pgbench's transactions per second, over a port that speaks plain PostgreSQL. */
async function tps(port: number, args: string[]): Promise<number> {
  const out = await exec('pgbench', ['-h', '127.0.0.1', '-p', String(port), '-U', 'bench', '-n', ...args, 'bench']);
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
  if (!m) throw new Error(`pgbench printed no tps:\n${out}`);
  return Number(m[1]);
}

/** How long a whole `psql -c 'select 1'` takes, in ms. */
async function psqlOnce(port: number): Promise<number> {
  const t0 = performance.now();
  await exec('psql', [`host=127.0.0.1 port=${port} user=bench dbname=bench sslmode=disable`, '-tAc', 'select 1']);
  return performance.now() - t0;
}

/** `postern proxy db pg --tunnel` for the bench user; resolves once it listens. */
async function localListener(home: string, started: Set<ChildProcess>): Promise<number> {
  const port = await freePort();
  const child = spawn(process.execPath, [...NODE_FLAGS, CLI, 'proxy', 'db', 'pg', '--tunnel', '--port', String(port)], { env: { ...process.env, POSTERN_HOME: home }, stdio: ['ignore', 'pipe', 'inherit'] });
  started.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  for (let i = 0; !out.includes('Proxying'); i++) {
    if (i > 100 || child.exitCode !== null) throw new Error(`postern proxy db did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return port;
}

/**
 * PostgreSQL through Postern: `pgbench -S` (read-only, one SELECT per transaction) through
 * `postern proxy db --tunnel` → proxy → agent → TLS with the db user's certificate → a private
 * PostgreSQL, against the same pgbench direct (plain TCP) and through three Node relays in the same
 * places (plain → relay → TLS → relay → TLS → relay → plain TCP: the relays add no TLS at the
 * database, Postern's path does); and a whole `psql -c 'select 1'` through the listener against
 * direct. Every statement is audited on Postern's path.
 */
export async function dbPgScenario(tls: BenchTls, opts: { seconds: number; clients: number; rounds: number; setups: number }): Promise<Row[]> {
  const cluster = await BenchCluster.start('auth:\n  second_factor: off\n');
  const children = new Set<ChildProcess>();
  let pg: PrivatePostgres | undefined;
  const relays: ServerProcess[] = [];
  let agent: { stop(): Promise<void> } | undefined;
  try {
    const out = join(tempDir('postern-bench-db-'), 'pg');
    const printed = await cluster.ctl(['auth', 'sign-db', '--host=127.0.0.1', `--out=${out}`]);
    // Plain TCP for the baselines, first; TLS connections (Postern's agent) authenticate by certificate.
    pg = await PrivatePostgres.fromSignDb(printed, out, { hba: ['hostnossl all all 127.0.0.1/32 trust'] });
    pg.sql('CREATE ROLE bench LOGIN');
    pg.sql('CREATE DATABASE bench OWNER bench');
    await exec('pgbench', ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'bench', '-i', '-s', '10', '-q', 'bench']);

    agent = await cluster.startAgent([], [], cluster.port, [{ name: 'pg', port: pg.port }]);
    const through = await localListener(await cluster.loginHome(), children);
    const right = await ServerProcess.start('node-relay', pg.port, tls.jsonFile);
    const middle = await ServerProcess.start('node-relay-tls', right.port, tls.jsonFile);
    const left = await ServerProcess.start('plain-relay-tls', middle.port, tls.jsonFile);
    relays.push(left, middle, right);

    const paths = { direct: pg.port, 'node relays': left.port, postern: through };
    const bench = ['-S', '-c', String(opts.clients), '-j', String(Math.min(2, opts.clients)), '-T', String(opts.seconds)];
    const results: Record<string, number[]> = { direct: [], 'node relays': [], postern: [] };
    for (let round = 0; round < opts.rounds; round++) {
      for (const [name, port] of Object.entries(paths)) results[name]!.push(await tps(port, bench));
    }
    const [direct, relayed, postern] = [median(results.direct!), median(results['node relays']!), median(results.postern!)];

    // Alternating, so both see the machine in the same state.
    await psqlOnce(through);
    const setup = { direct: [] as number[], postern: [] as number[] };
    for (let i = 0; i < opts.setups; i++) {
      setup.direct.push(await psqlOnce(pg.port));
      setup.postern.push(await psqlOnce(through));
    }
    const added = median(setup.postern) - median(setup.direct);
    return [
      {
        scenario: `pgbench -S -c ${opts.clients} -T ${opts.seconds} (${opts.rounds} rounds): postern proxy db --tunnel, every query audited`,
        figure: `${postern.toFixed(0)} tps`,
        baseline: `node relays ${relayed.toFixed(0)} tps; direct ${direct.toFixed(0)} tps (${(postern / direct).toFixed(2)}x)`,
        ratio: postern / relayed,
        target: '>= 0.80x',
        pass: postern / relayed >= 0.8,
      },
      {
        scenario: `psql -c 'select 1', whole command (${opts.setups} each)`,
        figure: `+${added.toFixed(1)} ms (${median(setup.postern).toFixed(1)} ms)`,
        baseline: `direct ${median(setup.direct).toFixed(1)} ms`,
        ratio: NaN,
        target: '<= +60 ms',
        pass: added <= 60,
      },
    ];
  } finally {
    for (const child of children) child.kill();
    for (const relay of relays) await relay.stop();
    await agent?.stop();
    pg?.stop();
    await cluster.stop();
  }
}
