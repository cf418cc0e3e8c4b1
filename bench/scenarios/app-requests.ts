import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Nginx } from '../../test/harness/nginx.js';
import { tempDir } from '../../test/harness/temp.js';
import type { BenchTls } from '../lib/fixture.js';
import { ServerProcess } from '../lib/server-process.js';
import { median, type Row } from '../lib/stats.js';
import { BenchCluster } from '../lib/tunnel-cluster.js';

const LOAD = fileURLToPath(new URL('../http-load.js', import.meta.url));
const APP = fileURLToPath(new URL('../http-app.js', import.meta.url));
const CONNECTIONS = 50;

interface Load {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}

/** Runs the load generator (its own process) against `url` and returns what it measured. */
async function load(url: string, seconds: number, tls?: { ca: string; cert?: string; key?: string }): Promise<Load> {
  const args = [LOAD, url, String(CONNECTIONS), String(seconds)];
  if (tls) {
    const file = join(tempDir('postern-bench-load-'), 'tls.json');
    writeFileSync(file, JSON.stringify(tls));
    args.push(file);
  }
  const { stdout } = await promisify(execFile)(process.execPath, args, { timeout: (seconds + 60) * 1000 });
  return JSON.parse(stdout) as Load;
}

/**
 * Requests per second to a web app, keep-alive, 50 connections, a small body: straight to the
 * app, through Postern (TLS, proxy → tunnel → agent → app, with the JWT assertion added), and
 * through the plainest Node TLS reverse proxy (one hop, no tunnel, no auth: what Node's HTTP stack
 * costs by itself) and through nginx as a TLS reverse proxy where installed. Every path runs in the same run,
 * alternating rounds; medians are reported. The target: Postern ≥ 0.5× direct.
 */
export async function appRequestsScenario(tls: BenchTls, opts: { seconds: number; rounds: number; nginx: boolean }): Promise<Row[]> {
  const app = await ServerProcess.spawn(APP, []);
  const cluster = await BenchCluster.start();
  const agent = await cluster.startAgent([{ name: 'web', port: app.port, uri: `http://127.0.0.1:${app.port}` }]);
  const user = await cluster.userTls();
  const nodeProxy = await ServerProcess.start('node-http-proxy', app.port, tls.jsonFile);
  const nginx = opts.nginx
    ? await Nginx.http(
        () => `ssl_certificate ${tls.certFile};\n    ssl_certificate_key ${tls.keyFile};\n    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }`,
        ' ssl',
        `upstream backend { server 127.0.0.1:${app.port}; keepalive 64; }`,
      )
    : undefined;
  const paths: Record<string, () => Promise<Load>> = {
    direct: () => load(`http://127.0.0.1:${app.port}/`, opts.seconds),
    postern: () => load(`https://web.postern.localhost:${cluster.port}/`, opts.seconds, user),
    'node reverse proxy (one hop, no auth)': () => load(`https://127.0.0.1:${nodeProxy.port}/`, opts.seconds, { ca: tls.caPem }),
    ...(nginx ? { nginx: () => load(`https://127.0.0.1:${nginx.port}/`, opts.seconds, { ca: tls.caPem }) } : {}),
  };
  const results: Record<string, Load[]> = Object.fromEntries(Object.keys(paths).map((k) => [k, []]));
  for (let round = 0; round < opts.rounds; round++) {
    for (const [name, run] of Object.entries(paths)) results[name]!.push(await run());
  }
  await nginx?.stop();
  await nodeProxy.stop();
  await agent.stop();
  await cluster.stop();
  await app.stop();

  const pick = (name: string, key: keyof Load) => median(results[name]!.map((r) => r[key]));
  const direct = { rps: pick('direct', 'rps'), p50: pick('direct', 'p50_ms'), p99: pick('direct', 'p99_ms') };
  const row = (name: string, target?: string): Row => {
    const ratio = pick(name, 'rps') / direct.rps;
    const errors = results[name]!.reduce((n, r) => n + r.errors, 0);
    return {
      scenario: `app requests, ${CONNECTIONS} keep-alive connections: ${name}`,
      figure: `${pick(name, 'rps').toFixed(0)} req/s, +${(pick(name, 'p50_ms') - direct.p50).toFixed(1)}/+${(pick(name, 'p99_ms') - direct.p99).toFixed(1)} ms p50/p99${errors ? `, ${errors} errors` : ''}`,
      baseline: `direct ${direct.rps.toFixed(0)} req/s, ${direct.p50.toFixed(1)}/${direct.p99.toFixed(1)} ms`,
      ratio,
      ...(target ? { target, pass: ratio >= 0.5 && errors === 0 } : {}),
    };
  };
  return [row('postern', '>= 0.50x'), row('node reverse proxy (one hop, no auth)'), ...(nginx ? [row('nginx')] : [])];
}
