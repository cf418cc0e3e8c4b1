import type { BenchTls } from '../lib/fixture.js';
import { FAR_PATH_DELAY_MS, startRelayChain } from '../lib/relay-chain.js';
import { ServerProcess } from '../lib/server-process.js';
import { Sink } from '../lib/sink.js';
import { median, type Row } from '../lib/stats.js';
import { tlsClient, transfer, TruncatedTransfer, type Connect, type Direction } from '../lib/transfer.js';
import { BenchCluster } from '../lib/tunnel-cluster.js';

const DIRECTIONS: Direction[] = ['upload', 'download'];
type Path = 'relays' | 'tunnel';

/** Rates of the transfers that arrived whole, and how many did not: a cut-short download is a finding, not a crash. */
interface Results {
  rates: number[];
  truncated: number;
}

async function measure(open: Connect, sink: Sink, direction: Direction, total: number, into: Results): Promise<void> {
  try {
    into.rates.push(await transfer(open, sink, direction, total));
  } catch (err) {
    if (!(err instanceof TruncatedTransfer)) throw err;
    into.truncated++;
  }
}

function describe(r: Results, rounds: number): string {
  return `${median(r.rates).toFixed(0)} MB/s${r.truncated ? ` (${r.truncated} of ${rounds} cut short)` : ''}`;
}

/**
 * Bytes through a reverse tunnel: client → TLS → proxy → HTTP/2 stream over the agent's TLS
 * connection → agent → TCP sink, against two plain Node relays with the same two TLS legs and
 * the same pump code: client → TLS → relay A → TLS → relay B → TCP sink. Proxy, agent and each
 * relay run in their own process; rounds are interleaved and the median is reported.
 *
 * With `far`, the agent is 40 ms from the proxy (it dials through a `far-path` relay), and relay
 * A reaches relay B through one too: how the tunnel's flow control copes with a long path, against
 * TCP's own on the same path.
 */
export async function tunnelPumpScenario(tls: BenchTls, opts: { mib: number; rounds: number; far?: boolean }): Promise<Row[]> {
  const total = opts.mib * 1024 * 1024;
  const sinks = { upload: await new Sink('upload', total).start(), download: await new Sink('download', total).start() };
  const cluster = await BenchCluster.start();
  const farPath = opts.far ? await ServerProcess.start('far-path', cluster.port, tls.jsonFile) : undefined;
  const agent = await cluster.startAgent(DIRECTIONS.map((d) => ({ name: `sink-${d}`, port: sinks[d].port })), [], farPath?.port);
  const app = await cluster.userConnect();
  const rows: Row[] = [];
  for (const direction of DIRECTIONS) {
    const relays = await startRelayChain(tls, sinks[direction].port, { far: opts.far });
    const paths: Record<Path, Connect> = { relays: tlsClient(relays.port), tunnel: app(`sink-${direction}`) };
    const results: Record<Path, Results> = { relays: { rates: [], truncated: 0 }, tunnel: { rates: [], truncated: 0 } };
    for (let round = 0; round < opts.rounds; round++) {
      for (const path of ['relays', 'tunnel'] as const) await measure(paths[path], sinks[direction], direction, total, results[path]);
    }
    const ratio = median(results.tunnel.rates) / median(results.relays.rates);
    rows.push({
      scenario: `tunnel pump ${direction}${opts.far ? `, agent ${2 * FAR_PATH_DELAY_MS} ms away` : ''} (${opts.mib} MiB)`,
      figure: describe(results.tunnel, opts.rounds),
      baseline: `2 node TLS relays ${describe(results.relays, opts.rounds)}`,
      ratio,
      target: '>= 0.80x, whole',
      pass: ratio >= 0.8 && results.tunnel.truncated === 0,
    });
    await relays.stop();
  }
  await agent.stop();
  await farPath?.stop();
  await cluster.stop();
  for (const sink of Object.values(sinks)) await sink.close();
  return rows;
}
