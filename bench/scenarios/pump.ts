import { Nginx } from '../../test/harness/nginx.js';
import type { BenchTls } from '../lib/fixture.js';
import { ServerProcess } from '../lib/server-process.js';
import { Sink } from '../lib/sink.js';
import { median, type Row } from '../lib/stats.js';
import { tlsClient, transfer } from '../lib/transfer.js';

/**
 * Bytes through the router: client → TLS → Postern's listener and router → TCP sink, against a
 * plain Node TLS relay with the same pump code, and nginx `stream` with TLS where installed.
 * Each server runs in its own process; rounds are interleaved and the median is reported.
 */
export async function pumpScenario(tls: BenchTls, opts: { mib: number; rounds: number; nginx: boolean }): Promise<Row[]> {
  const total = opts.mib * 1024 * 1024;
  const rows: Row[] = [];
  for (const direction of ['upload', 'download'] as const) {
    const sink = await new Sink(direction, total).start();
    const servers: Record<string, { port: number; stop(): Promise<void> }> = {
      'node relay': await ServerProcess.start('node-relay', sink.port, tls.jsonFile),
      postern: await ServerProcess.start('postern', sink.port, tls.jsonFile),
    };
    if (opts.nginx) {
      servers['nginx stream'] = await Nginx.stream(
        () => `ssl_certificate ${tls.certFile};\n    ssl_certificate_key ${tls.keyFile};\n    proxy_pass 127.0.0.1:${sink.port};`,
        ' ssl',
      );
    }
    const results: Record<string, number[]> = Object.fromEntries(Object.keys(servers).map((k) => [k, []]));
    for (let round = 0; round < opts.rounds; round++) {
      for (const [name, server] of Object.entries(servers)) results[name]!.push(await transfer(tlsClient(server.port), sink, direction, total));
    }
    const base = median(results['node relay']!);
    for (const name of Object.keys(servers).filter((n) => n !== 'node relay')) {
      const figure = median(results[name]!);
      const ratio = figure / base;
      rows.push({
        scenario: `pump ${direction} (${opts.mib} MiB): ${name}`,
        figure: `${figure.toFixed(0)} MB/s`,
        baseline: `node TLS relay ${base.toFixed(0)} MB/s`,
        ratio,
        ...(name === 'postern' ? { target: '>= 0.90x', pass: ratio >= 0.9 } : {}),
      });
    }
    for (const s of Object.values(servers)) await s.stop();
    await sink.close();
  }
  return rows;
}
