import { once } from 'node:events';
import { connect } from 'node:tls';
import type { BenchTls } from '../lib/fixture.js';
import { ServerProcess } from '../lib/server-process.js';
import { median, percentile, type Row } from '../lib/stats.js';

interface Result {
  perSecond: number;
  p50: number;
  p99: number;
  cpuPerConnUs: number;
}

/** Opens `count` TLS connections, `concurrency` at a time; the server ends each after its handshake. */
async function connections(server: ServerProcess, count: number, concurrency: number): Promise<Result> {
  const latencies: number[] = [];
  let next = 0;
  const cpuBefore = await server.cpu();
  const started = performance.now();
  const worker = async () => {
    while (next++ < count) {
      const t0 = performance.now();
      const sock = connect({ port: server.port, host: '127.0.0.1', servername: 'postern.localhost', ALPNProtocols: ['postern-tcp'], rejectUnauthorized: false });
      await once(sock, 'secureConnect');
      latencies.push(performance.now() - t0);
      sock.destroy();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  // Let the server finish closing what it accepted before reading its CPU time.
  await new Promise((r) => setTimeout(r, 200));
  const cpu = (await server.cpu()) - cpuBefore;
  return { perSecond: count / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), cpuPerConnUs: cpu / count };
}

/**
 * New-connection cost: Postern's listener (accept bookkeeping, deadline, router in the ALPN
 * callback, metrics, handler dispatch) against
 * a bare Node TLS server with a static ALPN list, same certificate. The server's own CPU time per
 * connection is the figure the target is about (each reading includes a full GC, so garbage made
 * per connection is paid for); rate and latency are shown too.
 */
export async function handshakeScenario(tls: BenchTls, opts: { count: number; rounds: number }): Promise<Row[]> {
  const servers = { bare: await ServerProcess.start('bare-tls', 1, tls.jsonFile), postern: await ServerProcess.start('postern-end', 1, tls.jsonFile) };
  const results: Record<keyof typeof servers, Result[]> = { bare: [], postern: [] };
  for (const server of Object.values(servers)) await connections(server, 200, 8); // warm up JIT and TLS caches
  for (let round = 0; round < opts.rounds; round++) {
    for (const name of ['bare', 'postern'] as const) results[name].push(await connections(servers[name], opts.count, 8));
  }
  for (const s of Object.values(servers)) await s.stop();
  const pick = (name: keyof typeof servers, key: keyof Result) => median(results[name].map((r) => r[key]));
  // Each round measures both servers back to back; the median of those paired ratios cancels the
  // drift (CPU frequency, the client's own load) that separate medians would keep.
  const cpuRatio = median(results.postern.map((r, i) => r.cpuPerConnUs / results.bare[i]!.cpuPerConnUs));
  return [
    {
      scenario: `new connections (${opts.count}): server CPU per connection`,
      figure: `${pick('postern', 'cpuPerConnUs').toFixed(0)} us`,
      baseline: `bare node TLS ${pick('bare', 'cpuPerConnUs').toFixed(0)} us`,
      ratio: cpuRatio,
      target: '<= 1.10x',
      pass: cpuRatio <= 1.1,
    },
    {
      scenario: `new connections (${opts.count}): rate, latency p50/p99`,
      figure: `${pick('postern', 'perSecond').toFixed(0)}/s ${pick('postern', 'p50').toFixed(1)}/${pick('postern', 'p99').toFixed(1)} ms`,
      baseline: `bare ${pick('bare', 'perSecond').toFixed(0)}/s ${pick('bare', 'p50').toFixed(1)}/${pick('bare', 'p99').toFixed(1)} ms`,
      ratio: pick('postern', 'perSecond') / pick('bare', 'perSecond'),
    },
  ];
}
