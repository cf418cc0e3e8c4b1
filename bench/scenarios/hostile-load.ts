import { Agent, request } from 'node:https';
import { createSecureContext } from 'node:tls';
import { fileURLToPath } from 'node:url';
import type { AttackStats } from '../hostile-client.js';
import { ServerProcess } from '../lib/server-process.js';
import { percentile, type Row } from '../lib/stats.js';
import { BenchCluster } from '../lib/tunnel-cluster.js';

const ATTACKER = fileURLToPath(new URL('../hostile-client.js', import.meta.url));
const HOST = 'postern.localhost';
/**
 * Linux routes all of 127.0.0.0/8 to the loopback interface, so the attacker binds its sockets
 * to a second address: per-address limits then see two peers, as they would on a network, and a
 * limit that blocks the attacker does not block the real client with it.
 */
const CLIENT_ADDRESS = '127.0.0.1';
const ATTACKER_ADDRESS = '127.0.0.2';
/** A ping slower than this counts as failed (and is abandoned). */
const REQUEST_TIMEOUT_MS = 5_000;
const TARGET_P99_RATIO = 3;
/** Before the next attack, the server gets this long to close what the last one left open. */
const SETTLE_TIMEOUT_MS = 5_000;

interface Attack {
  /** The attack's name in hostile-client.ts. */
  name: string;
  /** Connections held, or actions in flight. */
  count: number;
  /** For repeated actions: each slot starts one at most this often. */
  everyMs?: number;
  /** For the row; given `count` and the rate `everyMs` makes, so the label cannot drift from them. */
  label: (count: number, perSecond: number) => string;
}

/**
 * Each a few seconds and a few hundred connections at most. Held connections number more than
 * the default proxy.max_connections_per_ip (200), so a per-address limit has something to refuse.
 * The login burst goes last: password hashes it starts may outlast its phase.
 */
const ATTACKS: Attack[] = [
  { name: 'hello-trickle', count: 250, label: (n) => `slowloris before the handshake (${n} TCP conns trickling a ClientHello)` },
  { name: 'header-trickle', count: 250, label: (n) => `slowloris after the handshake (${n} TLS conns trickling an HTTP/1.1 header)` },
  { name: 'h2-idle', count: 250, label: (n) => `idle HTTP/2 sessions (${n})` },
  { name: 'idle-flood', count: 500, label: (n) => `idle connections (${n / 2} TCP + ${n / 2} TLS, sending nothing)` },
  { name: 'huge-hello', count: 32, everyMs: 500, label: (_, rate) => `56 KB ClientHellos (4,000 ALPN names, ${rate}/s)` },
  { name: 'huge-header', count: 32, everyMs: 500, label: (_, rate) => `100 KB HTTP/1.1 headers (new conn each, ${rate}/s)` },
  { name: 'login-burst', count: 100, everyMs: 1_000, label: (n, rate) => `wrong-password logins (${n} conns, all at once, then ${rate}/s)` },
];

/** How the real client reaches the proxy: a browser's connection it keeps, and a new user's first ones. */
interface Probe {
  label: string;
  /** One ping at most this often, so each phase has a comparable number of samples. */
  everyMs: number;
  agent: Agent;
}

interface Sample {
  latencies: number[];
  failed: number;
}

/**
 * The client's two ways in, verifying the proxy against the cluster's host CA. The TLS context is
 * made once, as a browser has its trust store ready: made per connection it cost the client
 * milliseconds of its own CPU per ping. No session resumption: a new user's first handshake is full.
 */
function probes(ca: string): Probe[] {
  const secureContext = createSecureContext({ ca });
  return [
    { label: 'kept-alive HTTP/1.1 conn', everyMs: 10, agent: new Agent({ keepAlive: true, maxSockets: 1, secureContext }) },
    { label: 'new TLS conn each', everyMs: 20, agent: new Agent({ keepAlive: false, maxCachedSessions: 0, secureContext }) },
  ];
}

/** `GET /webapi/ping` from the client's address. */
function ping(port: number, agent: Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, localAddress: CLIENT_ADDRESS, servername: HOST, agent, path: '/webapi/ping', headers: { host: `${HOST}:${port}` } }, (res) => {
      res.resume();
      res.once('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      res.once('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error('timed out')), REQUEST_TIMEOUT_MS);
    req.once('close', () => clearTimeout(timer));
    req.once('error', reject);
    req.end();
  });
}

/** Pings one after another, at most one per `everyMs`, for `ms`. */
async function sample(send: () => Promise<void>, everyMs: number, ms: number): Promise<Sample> {
  const result: Sample = { latencies: [], failed: 0 };
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t0 = performance.now();
    try {
      await send();
      result.latencies.push(performance.now() - t0);
    } catch {
      result.failed++;
    }
    const rest = everyMs - (performance.now() - t0);
    if (rest > 0) await new Promise((r) => setTimeout(r, rest));
  }
  return result;
}

/** What the server says about its connections: how many are open, and handshake failures by reason. */
async function serverView(diagPort: number): Promise<{ open: number; failures: Map<string, number> }> {
  const res = await fetch(`http://127.0.0.1:${diagPort}/metrics?name=postern_proxy_open_connections&name=postern_proxy_handshake_failures_total`);
  let open = 0;
  const failures = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('postern_proxy_open_connections{')) open += value;
    const reason = /^postern_proxy_handshake_failures_total\{reason="([^"]+)"\}/.exec(line)?.[1];
    if (reason) failures.set(reason, value);
  }
  return { open, failures };
}

/** Waits (up to SETTLE_TIMEOUT_MS) until the server has no more connections open than `idle`. */
async function settle(diagPort: number, idle: number): Promise<void> {
  const deadline = performance.now() + SETTLE_TIMEOUT_MS;
  while ((await serverView(diagPort)).open > idle && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

/** Rejects instead of waiting forever when the attacker process stops answering. */
function within<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** One progress line per attack: what the attacker managed, and what the server made of it. */
function describe(attack: Attack, seen: AttackStats, open: number, failures: Map<string, number>, before: Map<string, number>): string {
  const refused = [...failures].map(([reason, n]) => [reason, n - (before.get(reason) ?? 0)] as const).filter(([, n]) => n > 0);
  const statuses = Object.entries(seen.statuses).map(([status, n]) => `${n}× ${status}`);
  return (
    `  ${attack.name}: attacker opened ${seen.opened} connections (${seen.established} established, at most ${seen.peak} at once, ${seen.closedEarly} ended during the attack)` +
    `${statuses.length ? `, answers ${statuses.join(' ')}` : ''}; server had ${open} open at the end` +
    `${refused.length ? `, handshake failures ${refused.map(([r, n]) => `${r} ${n}`).join(', ')}` : ''}\n`
  );
}

const labelOf = (attack: Attack) => attack.label(attack.count, attack.everyMs ? (attack.count * 1000) / attack.everyMs : 0);
const fmt = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(1) : '-');
const p = (s: Sample, q: number) => (s.latencies.length ? percentile(s.latencies, q) : Infinity);

function row(attack: Attack, probe: Probe, base: Sample, during: Sample): Row {
  const ratio = p(during, 99) / p(base, 99);
  const total = during.latencies.length + during.failed;
  return {
    scenario: `hostile load, ${labelOf(attack)}: ping, ${probe.label}`,
    figure: `${fmt(p(during, 50))}/${fmt(p(during, 99))} ms p50/p99, ${during.failed} of ${total} failed`,
    baseline: `no attack ${fmt(p(base, 50))}/${fmt(p(base, 99))} ms${base.failed ? `, ${base.failed} failed` : ''}`,
    ratio,
    target: `p99 <= ${TARGET_P99_RATIO}x, 0 failed`,
    pass: ratio <= TARGET_P99_RATIO && during.failed === 0,
  };
}

/**
 * A real client's latency while the proxy is attacked, against the same client with no attack
 * (measured first, for as long). The proxy is a real cluster with the default settings; the
 * client pings `GET /webapi/ping` on a kept-alive HTTP/1.1 connection (a browser already on the
 * site) and on a new TLS connection each time (a new user's browser), both from 127.0.0.1. The
 * attacker runs in its own process (hostile-client.ts) from 127.0.0.2. On this machine it still
 * shares the cores with the proxy, which a remote attacker would not: CPU-heavy attacks (the
 * oversized hellos, whose client side costs a handshake too) are measured a little harsher than
 * they are. Each attack's window starts as the attack does, so its ramp (the attacker opens its
 * connections over the first second) is part of what the client sees.
 */
export async function hostileLoadScenario(opts: { seconds: number }): Promise<Row[]> {
  const ms = opts.seconds * 1000;
  const cluster = await BenchCluster.start();
  const { ca } = await cluster.userTls(); // also makes the user "bench", whose password the login burst guesses
  const diagPort = cluster.proxyProcess.ready.diag_port!;
  const clients = probes(ca);
  const measure = (forMs: number) => Promise.all(clients.map((probe) => sample(() => ping(cluster.port, probe.agent), probe.everyMs, forMs)));
  const rows: Row[] = [];
  let attacker: ServerProcess | undefined;
  try {
    attacker = await ServerProcess.spawn(ATTACKER, [String(cluster.port), ATTACKER_ADDRESS]);
    await measure(500); // warm-up (JIT, TLS contexts), not counted
    const idle = (await serverView(diagPort)).open;
    const baseline = await measure(ms);
    for (const attack of ATTACKS) {
      await settle(diagPort, idle);
      const before = (await serverView(diagPort)).failures;
      await within(attacker.ask(`start ${attack.name} ${attack.count} ${attack.everyMs ?? 0}`), `starting ${attack.name}`);
      const during = await measure(ms);
      const server = await serverView(diagPort);
      const seen = await within(attacker.ask<AttackStats>('stop'), `stopping ${attack.name}`);
      process.stdout.write(describe(attack, seen, server.open, server.failures, before));
      rows.push(...clients.map((probe, i) => row(attack, probe, baseline[i]!, during[i]!)));
    }
  } finally {
    for (const probe of clients) probe.agent.destroy();
    await attacker?.stop('SIGTERM'); // it has nothing to finish, and a signal ends it even if it is stuck
    await cluster.stop();
  }
  return rows;
}
