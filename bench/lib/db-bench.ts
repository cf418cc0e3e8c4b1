import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { freePort } from '../../test/harness/ports.js';
import { tempDir } from '../../test/harness/temp.js';
import type { BenchTls } from './fixture.js';
import { ServerProcess } from './server-process.js';
import { median, type Row } from './stats.js';
import { BenchCluster, type BenchDb } from './tunnel-cluster.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const AUDIT_ON = 'auth:\n  second_factor: off\n';
const AUDIT_OFF = `${AUDIT_ON}proxy:\n  db_query_audit: false\n`;

export function exec(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(file, args, (err, stdout, stderr) => (err ? reject(new Error(`${file} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout))));
}

/** One database's part of a scenario: its server, its load generator and its client. */
export interface DbBenchSpec {
  protocol: BenchDb['protocol'];
  /** What the load is, for the row: `pgbench -S -c 8 -T 10`. */
  load: string;
  /** The client whose whole run is the set-up figure: `psql -c 'select 1'`. */
  client: string;
  /** Starts the database set up as `printed` (sign-db's output for `dir`) says; `port` is where it listens. */
  start(printed: string, dir: string): Promise<{ port: number; stop(): void }>;
  /** Transactions per second of the load, on a port; `viaPostern` when the port is Postern's listener (its user logs in by certificate). */
  tps(port: number, viaPostern: boolean): Promise<number>;
  /** One whole run of the client, in ms. */
  connectOnce(port: number, viaPostern: boolean): Promise<number>;
  /** The set-up target, in ms over direct, when the issue names one. */
  setupTarget?: number;
  /**
   * The relay in the agent's place when it can speak TLS to the database as Postern's agent
   * does (server-under-test's pg-tls-relay); without it, the relay reaches the database over
   * plain TCP, which spares both ends a TLS layer Postern pays for.
   */
  dbTlsRelay?: string;
}

/**
 * A database through Postern: the load through `postern proxy db --tunnel` → proxy → agent → TLS
 * with the db user's certificate → a private server, against the same load direct (plain TCP)
 * and through three Node relays in the same places (plain → relay → TLS → relay → TLS → relay →
 * TLS to the database where the spec has such a relay, as Postern's agent; also, for reference,
 * the same chain ending in plain TCP); the whole client command through the listener against
 * direct; and the load again after a restart with `proxy.db_query_audit: false`, for what
 * auditing every statement costs.
 */
export async function dbScenario(tls: BenchTls, spec: DbBenchSpec, opts: { rounds: number; setups: number }): Promise<Row[]> {
  const cluster = await BenchCluster.start(AUDIT_ON);
  const children = new Set<ChildProcess>();
  const relays: ServerProcess[] = [];
  let db: { port: number; stop(): void } | undefined;
  let agent: { stop(): Promise<void> } | undefined;
  try {
    const out = `${tempDir('postern-bench-db-')}/db`;
    db = await spec.start(await cluster.ctl(['auth', 'sign-db', '--host=127.0.0.1', `--out=${out}`]), out);
    agent = await cluster.startAgent([], [], cluster.port, [{ name: 'db', protocol: spec.protocol, port: db.port }]);
    const through = await localListener(await cluster.loginHome(), children);
    const chain = async (last: string) => {
      const right = await ServerProcess.start(last, db!.port, tls.jsonFile);
      const middle = await ServerProcess.start('node-relay-tls', right.port, tls.jsonFile);
      const left = await ServerProcess.start('plain-relay-tls', middle.port, tls.jsonFile);
      relays.push(left, middle, right);
      return left.port;
    };
    const relayed = await chain(spec.dbTlsRelay ?? 'node-relay');
    const relayedPlain = spec.dbTlsRelay ? await chain('node-relay') : undefined;

    // Rounds alternate every load, the query audit's off-run included (a restart each way), so
    // that all see the machine in the same state; the audit's pair swaps its order every round
    // (on-off, off-on, …), so that a drift within rounds favours neither.
    const runs = { direct: [] as number[], relays: [] as number[], relaysPlain: [] as number[], postern: [] as number[], unaudited: [] as number[] };
    let audited = true;
    const withAudit = async (on: boolean) => {
      if (on === audited) return;
      await cluster.restart(on ? AUDIT_ON : AUDIT_OFF);
      await cluster.waitForTunnels(1);
      audited = on;
    };
    for (let round = 0; round < opts.rounds; round++) {
      runs.direct.push(await spec.tps(db.port, false));
      runs.relays.push(await spec.tps(relayed, false));
      if (relayedPlain) runs.relaysPlain.push(await spec.tps(relayedPlain, false));
      for (const on of round % 2 === 0 ? [true, false] : [false, true]) {
        await withAudit(on);
        (on ? runs.postern : runs.unaudited).push(await spec.tps(through, true));
      }
    }
    await withAudit(true);
    await spec.connectOnce(through, true);
    const setup = { direct: [] as number[], postern: [] as number[] };
    for (let i = 0; i < opts.setups; i++) {
      setup.direct.push(await spec.connectOnce(db.port, false));
      setup.postern.push(await spec.connectOnce(through, true));
    }

    const [direct, viaRelays, postern, unaudited] = [median(runs.direct), median(runs.relays), median(runs.postern), median(runs.unaudited)];
    // The audit's cost is judged within each round's pair (its two runs are minutes apart at most,
    // where single runs on a busy 2-core machine drift by ±15% over a scenario); the ratio of the
    // medians is printed beside it.
    const auditRatio = median(runs.postern.map((on, i) => on / runs.unaudited[i]!));
    const tlsNote = relayedPlain ? ` (TLS to the database, as Postern); plain TCP to it ${median(runs.relaysPlain).toFixed(0)} tps` : ' (plain TCP to the database)';
    const added = median(setup.postern) - median(setup.direct);
    return [
      {
        scenario: `${spec.load} (${opts.rounds} rounds): postern proxy db --tunnel, every query audited`,
        figure: `${postern.toFixed(0)} tps`,
        baseline: `node relays ${viaRelays.toFixed(0)} tps${tlsNote}; direct ${direct.toFixed(0)} tps (${(postern / direct).toFixed(2)}x)`,
        ratio: postern / viaRelays,
        target: '>= 0.80x',
        pass: postern / viaRelays >= 0.8,
      },
      {
        scenario: `${spec.load}: every query audited, against proxy.db_query_audit: false`,
        figure: `${postern.toFixed(0)} tps`,
        baseline: `query audit off ${unaudited.toFixed(0)} tps, ratio of medians ${(postern / unaudited).toFixed(2)}x (runs on ${runs.postern.map((t) => t.toFixed(0)).join('/')}, off ${runs.unaudited.map((t) => t.toFixed(0)).join('/')})`,
        ratio: auditRatio,
        target: '>= 0.90x (median of the rounds\' on/off ratios)',
        pass: auditRatio >= 0.9,
      },
      {
        scenario: `${spec.client}, whole command (${opts.setups} each)`,
        figure: `+${added.toFixed(1)} ms (${median(setup.postern).toFixed(1)} ms)`,
        baseline: `direct ${median(setup.direct).toFixed(1)} ms`,
        ratio: NaN,
        ...(spec.setupTarget !== undefined ? { target: `<= +${spec.setupTarget} ms`, pass: added <= spec.setupTarget } : {}),
      },
    ];
  } finally {
    for (const child of children) child.kill();
    for (const relay of relays) await relay.stop();
    await agent?.stop();
    db?.stop();
    await cluster.stop();
  }
}

/** `postern proxy db db --tunnel` for the bench user; resolves with its port once it listens. */
async function localListener(home: string, started: Set<ChildProcess>): Promise<number> {
  const port = await freePort();
  const child = spawn(process.execPath, [...NODE_FLAGS, CLI, 'proxy', 'db', 'db', '--tunnel', '--port', String(port)], { env: { ...process.env, POSTERN_HOME: home }, stdio: ['ignore', 'pipe', 'inherit'] });
  started.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  for (let i = 0; !out.includes('Proxying'); i++) {
    if (i > 100 || child.exitCode !== null) throw new Error(`postern proxy db did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return port;
}
