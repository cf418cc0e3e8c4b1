import { ThrowawayDatabases } from '../../test/harness/pg-databases.js';
import { HaBenchCluster } from '../lib/ha-cluster.js';
import type { Row } from '../lib/stats.js';

const KIB = 1024;

/**
 * Idle agents over three proxies on one PostgreSQL database behind HAProxy (issue 19): each agent
 * keeps a tunnel to every proxy, so each proxy holds one per agent. What one more tunnel costs
 * each proxy (RSS after a full collection, the slope from half the agents to all; the average
 * from none, which holds what the first tunnels cost once, is shown too), and how long after one
 * proxy restarts (SIGINT, a new process on the same port) every agent holds a tunnel to it again.
 */
export async function haAgentsScenario(opts: { agents: number; settleMs: number }): Promise<Row[]> {
  const databases = new ThrowawayDatabases();
  const cluster = await HaBenchCluster.start(await databases.create(), 3);
  try {
    const mem = () => Promise.all(cluster.proxies.map((p) => p.ask<{ rss: number }>('mem')));
    const before = await mem();
    // Half the agents, then the rest (each group in a child process of its own): the slope between
    // the two readings is what one more tunnel costs each proxy, as tunnel-idle measures it.
    const half = Math.floor(opts.agents / 2);
    const groups = [await cluster.startAgents(half, [{ name: 'idle', port: 9 }], 'a')];
    await cluster.everyProxyWithin(half, 120_000);
    await new Promise((r) => setTimeout(r, opts.settleMs));
    const mid = await mem();
    groups.push(await cluster.startAgents(opts.agents - half, [{ name: 'idle', port: 9 }], 'b'));
    const up = await cluster.everyProxyWithin(opts.agents, 120_000);
    await new Promise((r) => setTimeout(r, opts.settleMs));
    const after = await mem();
    const perTunnel = after.map((a, i) => (a.rss - mid[i]!.rss) / (opts.agents - half) / KIB);
    const average = after.map((a, i) => (a.rss - before[i]!.rss) / opts.agents / KIB);
    await cluster.restart(1);
    const back = await cluster.everyProxyWithin(opts.agents, 60_000);
    for (const g of groups) await g.stop();
    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const all = (counts: number[]) => counts.every((c) => c >= opts.agents);
    return [
      {
        scenario: `${opts.agents} agents over 3 proxies (PostgreSQL, HAProxy): proxy memory per tunnel`,
        figure: perTunnel.map((k) => `${k.toFixed(0)}`).join(' / ') + ' KiB RSS per added tunnel, each proxy',
        baseline: `average from none ${average.map((k) => k.toFixed(0)).join(' / ')} KiB; the second half all ${all(up.counts) ? '' : 'not '}up in ${seconds(up.ms)} (${up.counts.join('/')})`,
        ratio: NaN,
        target: '<= 100 KiB',
        pass: all(up.counts) && Math.max(...perTunnel) <= 100,
      },
      {
        scenario: `${opts.agents} agents over 3 proxies: all back on a restarted proxy`,
        figure: all(back.counts) ? seconds(back.ms) : `only ${back.counts[1]} in ${seconds(back.ms)}`,
        baseline: 'SIGINT, then a new process on the same port: a new proxy id, found by each agent through HAProxy',
        ratio: NaN,
        target: '<= 15 s',
        pass: all(back.counts) && back.ms <= 15_000,
      },
    ];
  } finally {
    await cluster.stop();
    await databases.dropAll();
  }
}
