import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { Nginx } from '../../test/harness/nginx.js';
import { freePort } from '../../test/harness/ports.js';
import type { BenchTls } from '../lib/fixture.js';
import { ServerProcess } from '../lib/server-process.js';
import { Sink } from '../lib/sink.js';
import { median, percentile, type Row } from '../lib/stats.js';
import { transfer, type Connect, type Direction } from '../lib/transfer.js';
import { BenchCluster } from '../lib/tunnel-cluster.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** A plain TCP client of a local listener (what ssh or psql would be). */
const plainClient = (port: number): Connect => async () => {
  const sock = connect({ port, host: '127.0.0.1', noDelay: true });
  await once(sock, 'connect');
  return sock;
};

/** Time from connect() to the target's first byte, `count` times, `gapMs` apart; returns the latencies in ms. */
async function firstByte(port: number, count: number, gapMs = 0): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
    const t0 = performance.now();
    const sock = connect({ port, host: '127.0.0.1', noDelay: true });
    await once(sock, 'data');
    out.push(performance.now() - t0);
    sock.destroy();
  }
  return out;
}

/** `postern tcp --listen` for a route, with a profile from `postern login` (the cached certificate). */
async function posternTcp(cluster: BenchCluster, authority: string, started: Set<ChildProcess>): Promise<{ port: number; child: ChildProcess }> {
  const env = { ...process.env, POSTERN_HOME: await cluster.loginHome() };
  const port = await freePort();
  const child = spawn(process.execPath, [...NODE_FLAGS, CLI, 'tcp', '--listen', `127.0.0.1:${port}`, authority], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  started.add(child); // killed when the scenario ends, however it ends (its stdin is not ours)
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d));
  for (let i = 0; !err.includes('Listening on'); i++) {
    if (i > 100 || child.exitCode !== null) throw new Error(`postern tcp did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, child };
}

/**
 * TCP routes (HTTP CONNECT): bulk bytes through `postern tcp --listen` → TLS → proxy → target,
 * against two Node relays with the same TLS leg (plain → relay → TLS → relay → target) and
 * nginx `stream` in the first relay's place where installed; and the set-up time of a new
 * tunnel (connect to the first byte of the target) over a direct TCP connection.
 */
export async function tcpRouteScenario(tls: BenchTls, opts: { mib: number; rounds: number; connections: number; nginx: boolean }): Promise<Row[]> {
  const total = opts.mib * 1024 * 1024;
  const rows: Row[] = [];
  // Says one byte at once, like sshd's banner; in its own process, as a real service is (in this
  // one, a direct connection would never wait for another process to be scheduled).
  const banner = await ServerProcess.start('banner', 0, tls.jsonFile);
  const routes = (['upload', 'download'] as const).map((d) => `    - from: tcp+https://${d}.bench:9\n      to: tcp://127.0.0.1:PORT_${d}\n      policy: [{ allow: { and: [{ authenticated_user: true }] } }]`);
  const sinks = { upload: await new Sink('upload', total).start(), download: await new Sink('download', total).start() };
  const yaml = `auth:\n  second_factor: off\nproxy:\n  routes:\n${routes.join('\n').replace('PORT_upload', String(sinks.upload.port)).replace('PORT_download', String(sinks.download.port))}\n    - from: tcp+https://banner.bench:9\n      to: tcp://127.0.0.1:${banner.port}\n      policy: [{ allow: { and: [{ authenticated_user: true }] } }]\n`;
  const cluster = await BenchCluster.start(yaml);
  const children = new Set<ChildProcess>();
  try {
    for (const direction of ['upload', 'download'] as Direction[]) {
      const sink = sinks[direction];
      const postern = await posternTcp(cluster, `${direction}.bench:9`, children);
      const right = await ServerProcess.start('node-relay', sink.port, tls.jsonFile);
      const left = await ServerProcess.start('plain-relay-tls', right.port, tls.jsonFile);
      const nginx = opts.nginx ? await Nginx.stream(() => `proxy_pass 127.0.0.1:${right.port};\n    proxy_ssl on;\n    proxy_ssl_server_name on;\n    proxy_ssl_name postern.localhost;`) : undefined;
      const paths: Record<string, Connect> = { 'node relays': plainClient(left.port), postern: plainClient(postern.port), ...(nginx ? { 'nginx stream': plainClient(nginx.port) } : {}) };
      const rates: Record<string, number[]> = Object.fromEntries(Object.keys(paths).map((k) => [k, []]));
      for (let round = 0; round < opts.rounds; round++) {
        for (const [name, open] of Object.entries(paths)) rates[name]!.push(await transfer(open, sink, direction, total));
      }
      const base = median(rates['node relays']!);
      for (const name of Object.keys(paths).filter((n) => n !== 'node relays')) {
        const ratio = median(rates[name]!) / base;
        rows.push({
          scenario: `tcp route ${direction} (${opts.mib} MiB): ${name === 'postern' ? 'postern tcp --listen' : name}`,
          figure: `${median(rates[name]!).toFixed(0)} MB/s`,
          baseline: `node relays ${base.toFixed(0)} MB/s`,
          ratio,
          ...(name === 'postern' ? { target: '>= 0.80x', pass: ratio >= 0.8 } : {}),
        });
      }
      await nginx?.stop();
      await left.stop();
      await right.stop();
      postern.child.kill();
    }

    const postern = await posternTcp(cluster, 'banner.bench:9', children);
    await firstByte(postern.port, 20); // warm-up
    // Alternating in batches of ten, so both see the machine in the same state (it drifts).
    const direct: number[] = [];
    const through: number[] = [];
    for (let done = 0; done < opts.connections; done += 10) {
      direct.push(...(await firstByte(banner.port, 10)));
      through.push(...(await firstByte(postern.port, 10)));
    }
    // Tunnels opened one at a time, 100 ms apart, each find a spare connection of their own (those
    // above mostly share the listener's HTTP/2 connection, since spares are replaced only when quiet).
    const directApart: number[] = [];
    const apart: number[] = [];
    for (let done = 0; done < Math.max(10, opts.connections / 5); done += 5) {
      directApart.push(...(await firstByte(banner.port, 5, 100)));
      apart.push(...(await firstByte(postern.port, 5, 100)));
    }
    postern.child.kill();
    const added = percentile(through, 50) - percentile(direct, 50);
    rows.push({
      scenario: `tcp route set-up (${opts.connections} new tunnels, connect to first byte)`,
      figure: `+${added.toFixed(2)} ms p50 (${percentile(through, 50).toFixed(2)}/${percentile(through, 99).toFixed(2)} ms p50/p99)`,
      baseline: `direct TCP ${percentile(direct, 50).toFixed(2)} ms p50`,
      ratio: NaN,
      target: '<= +3 ms p50',
      pass: added <= 3,
    });
    rows.push({
      scenario: `  same, ${apart.length} tunnels 100 ms apart (each on a spare connection)`,
      figure: `+${(percentile(apart, 50) - percentile(directApart, 50)).toFixed(2)} ms p50 (${percentile(apart, 50).toFixed(2)}/${percentile(apart, 99).toFixed(2)} ms p50/p99)`,
      baseline: `direct TCP, as far apart, ${percentile(directApart, 50).toFixed(2)} ms p50`,
      ratio: NaN,
    });
  } finally {
    for (const child of children) child.kill();
    await Promise.allSettled([cluster.stop(), banner.stop(), sinks.upload.close(), sinks.download.close()]);
  }
  return rows;
}
