import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../../test/harness/temp.js';
import type { BenchTls } from '../lib/fixture.js';
import { startRelayChain } from '../lib/relay-chain.js';
import { ServerProcess } from '../lib/server-process.js';
import { Sink } from '../lib/sink.js';
import { median, percentile, type Row } from '../lib/stats.js';
import { connectTo, tlsSpec, type ConnectSpec, type Direction } from '../lib/transfer.js';
import { BenchCluster } from '../lib/tunnel-cluster.js';

const BULK_CLIENT = fileURLToPath(new URL('../bulk-client.js', import.meta.url));
const DIRECTIONS: Direction[] = ['download', 'upload'];
const MESSAGE = Buffer.alloc(100, 0x42);
/** How long a bulk stream runs before the exchanges are timed, and how long its teardown gets to drain. */
const SETTLE_MS = 500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One connection to the echo target: sends 100 bytes, waits for all of them back, and times each exchange. */
class Pinger {
  private waiting: (() => void) | undefined;
  private pending = 0;

  constructor(private readonly sock: Duplex) {
    sock.on('data', (d: Buffer) => {
      this.pending -= d.length;
      if (this.pending <= 0) this.waiting?.();
    });
    // A client that read a status line first left the stream paused.
    sock.resume();
  }

  async exchange(count: number, into: number[]): Promise<void> {
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        this.pending = MESSAGE.length;
        this.sock.write(MESSAGE);
      });
      into.push(performance.now() - started);
    }
  }

  close(): void {
    this.sock.destroy();
  }
}

/** One stream moving bytes as fast as it can in one direction, from its own process (bulk-client.ts). */
class Bulk {
  private constructor(private readonly client: ServerProcess) {}

  static async start(spec: ConnectSpec, direction: Direction): Promise<Bulk> {
    // The spec holds the bench user's private key: gone once the child has read it.
    const dir = tempDir('postern-bench-bulk-');
    writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec), { mode: 0o600 });
    try {
      return new Bulk(await ServerProcess.spawn(BULK_CLIENT, [join(dir, 'spec.json'), direction]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Ends the stream; returns the MB/s it moved. */
  async stop(): Promise<number> {
    const { mb_per_s } = await this.client.ask<{ mb_per_s: number }>('stop');
    await this.client.stop();
    return mb_per_s;
  }
}

/** How one path (the tunnel, or the relays) opens a client connection to a target. */
type Opener = (target: 'echo' | Direction) => ConnectSpec;

interface Latencies {
  quiet: number[];
  loaded: number[];
  /** MB/s of each round's bulk stream. */
  rates: number[];
}

/** Every pinger does `count` exchanges at once; returns all their latencies. */
async function exchanges(pingers: Pinger[], count: number): Promise<number[]> {
  const out: number[] = [];
  await Promise.all(pingers.map((p) => p.exchange(count, out)));
  return out;
}

/** Rounds of exchanges without, then with, a bulk stream in `direction` running on the same path. */
async function compare(open: Opener, pingers: Pinger[], direction: Direction, opts: { exchanges: number; rounds: number }): Promise<Latencies> {
  const result: Latencies = { quiet: [], loaded: [], rates: [] };
  for (let round = 0; round < opts.rounds; round++) {
    result.quiet.push(...(await exchanges(pingers, opts.exchanges)));
    const bulk = await Bulk.start(open(direction), direction);
    await sleep(SETTLE_MS);
    result.loaded.push(...(await exchanges(pingers, opts.exchanges)));
    result.rates.push(await bulk.stop());
    await sleep(SETTLE_MS);
  }
  return result;
}

/**
 * Small exchanges sharing one tunnel with a bulk stream: `streams` connections to an echo target,
 * each doing sequential 100-byte ping-pongs, timed with a bulk stream (to or from a sink, through
 * the same agent, from a process of its own) running and without it. Rounds alternate the two,
 * so drift hits both alike; the p99 of every exchange of each kind is compared. The echo target
 * shares this process; the bulk source and sink have a process of their own, since moving
 * 150 MB/s here would delay the very replies being timed (with the upload sink in this process,
 * p99 rose 10–14x on both paths). The same runs through two plain relays,
 * where each stream has its own connections, show how much of the rise is the machine (every
 * process shares its cores with the bulk stream) rather than the tunnel.
 */
export async function tunnelFairnessScenario(tls: BenchTls, opts: { streams: number; exchanges: number; rounds: number }): Promise<Row[]> {
  const echo = await new Sink('echo', 0).start();
  const bulkTargets = { download: await ServerProcess.start('download-source', 0, tls.jsonFile), upload: await ServerProcess.start('upload-sink', 0, tls.jsonFile) };
  const targets = { echo, ...bulkTargets };
  const cluster = await BenchCluster.start();
  const agent = await cluster.startAgent(Object.entries(targets).map(([name, t]) => ({ name, port: t.port })));
  const app = await cluster.userSpec();
  const chains = { echo: await startRelayChain(tls, targets.echo.port), download: await startRelayChain(tls, targets.download.port), upload: await startRelayChain(tls, targets.upload.port) };
  const paths: Record<'tunnel' | 'relays', Opener> = { tunnel: app, relays: (target) => tlsSpec(chains[target].port) };
  const rows: Row[] = [];
  for (const [path, open] of Object.entries(paths)) {
    const pingers = await Promise.all(Array.from({ length: opts.streams }, async () => new Pinger(await connectTo(open('echo'))())));
    await exchanges(pingers, opts.exchanges); // warm up the JIT on every hop
    for (const direction of DIRECTIONS) rows.push(describe(path, direction, await compare(open, pingers, direction, opts), opts.streams));
    for (const p of pingers) p.close();
  }
  for (const chain of Object.values(chains)) await chain.stop();
  await agent.stop();
  await cluster.stop();
  await echo.close();
  for (const t of Object.values(bulkTargets)) await t.stop();
  return rows;
}

function describe(path: string, direction: Direction, r: Latencies, streams: number): Row {
  const ms = (values: number[], p: number) => percentile(values, p).toFixed(2);
  const ratio = percentile(r.loaded, 99) / percentile(r.quiet, 99);
  const tunnel = path === 'tunnel';
  return {
    scenario: tunnel ? `tunnel fairness: ${streams} ping-pong streams p99, bulk ${direction}` : `  same through 2 node TLS relays (own connections)`,
    figure: `${ms(r.loaded, 99)} ms (p50 ${ms(r.loaded, 50)}; bulk ${median(r.rates).toFixed(0)} MB/s)`,
    baseline: `no bulk ${ms(r.quiet, 99)} ms (p50 ${ms(r.quiet, 50)})`,
    ratio,
    ...(tunnel ? { target: '<= 2.00x', pass: ratio <= 2 } : {}),
  };
}
