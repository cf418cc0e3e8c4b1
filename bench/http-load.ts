/**
 * A load generator in its own process (so it does not share an event loop with what it
 * measures): `connections` keep-alive connections, each sending GET requests one after another
 * for `seconds`; prints one JSON line {requests, rps, p50_ms, p99_ms, errors} and exits.
 *
 * argv: <url> <connections> <seconds> [tls json file: {ca, cert, key} for https]
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { lookup } from '../src/net/localhost.js';
import { percentile } from './lib/stats.js';

const [url, connectionsText, secondsText, tlsFile] = process.argv.slice(2);
const target = new URL(url!);
const connections = Number(connectionsText);
const seconds = Number(secondsText);
const tls = tlsFile ? (JSON.parse(readFileSync(tlsFile, 'utf8')) as { ca: string; cert?: string; key?: string }) : undefined;
const https = target.protocol === 'https:';
const agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: connections, ...tls }) : new HttpAgent({ keepAlive: true, maxSockets: connections });

function get(): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)({ host: target.hostname, port: target.port, path: target.pathname, agent, lookup, ...(isIP(target.hostname) ? {} : { servername: target.hostname }) }, (res) => {
      res.resume();
      res.once('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
}

const latencies: number[] = [];
let errors = 0;
// One request on every connection first (TLS handshakes, JIT warm-up) is not counted.
await Promise.all(Array.from({ length: connections }, () => get().catch(() => undefined)));
const started = performance.now();
const deadline = started + seconds * 1000;
await Promise.all(
  Array.from({ length: connections }, async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await get();
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  }),
);
const elapsed = (performance.now() - started) / 1000;
process.stdout.write(JSON.stringify({ requests: latencies.length, rps: latencies.length / elapsed, p50_ms: percentile(latencies, 50), p99_ms: percentile(latencies, 99), errors }) + '\n');
agent.destroy();
process.exit(0);
