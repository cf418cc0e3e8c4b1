import type { Row } from '../lib/stats.js';
import { BenchCluster } from '../lib/tunnel-cluster.js';

interface Memory {
  rss: number;
  heap_used: number;
}

const KIB = 1024;

/**
 * Idle agents on one proxy: what each tunnel costs the proxy process (RSS and V8 heap after a
 * full collection, before the agents and after they have all been up for a while, divided by
 * their number), and how long all of them take to be back when the proxy is restarted (SIGINT,
 * then a new process on the same port and data). The agents share one child process; the
 * proxy counts them by its postern_tunnels_connected metric. The CPU both sides spent while the
 * agents came back is shown too: with every agent in one process, the agents' side can be what
 * limits the figure.
 */
export async function tunnelIdleScenario(opts: { agents: number; settleMs: number }): Promise<Row[]> {
  const cluster = await BenchCluster.start();
  const before = await cluster.proxyProcess.ask<Memory>('mem');
  const agents = await cluster.startAgents(opts.agents, [{ name: 'idle', port: 9 }]); // announced, never dialled
  await cluster.waitForTunnels(opts.agents);
  // Through a few heartbeat polls and storage refreshes, so each tunnel is in its steady state.
  await new Promise((r) => setTimeout(r, opts.settleMs));
  const after = await cluster.proxyProcess.ask<Memory>('mem');
  const agentsCpu = await agents.cpu();
  const restart = await cluster.restart();
  const back = await cluster.tunnelsWithin(opts.agents, 60_000);
  // Where the reconnect's time went: the new proxy's CPU (its start included) and the agents'.
  const cpu = { proxy: await cluster.proxyProcess.cpu(), agents: (await agents.cpu()) - agentsCpu };
  await agents.stop();
  await cluster.stop();

  const perTunnel = (key: keyof Memory) => (after[key] - before[key]) / opts.agents / KIB;
  const rss = perTunnel('rss');
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return [
    {
      scenario: `idle tunnels (${opts.agents}): proxy memory per tunnel`,
      figure: `${rss.toFixed(0)} KiB RSS, ${perTunnel('heap_used').toFixed(0)} KiB heap`,
      baseline: `proxy alone ${(before.rss / KIB / KIB).toFixed(0)} MiB RSS`,
      ratio: NaN,
      target: '<= 100 KiB',
      pass: rss <= 100,
    },
    {
      scenario: `idle tunnels (${opts.agents}): all back after a proxy restart`,
      figure: back.count < opts.agents ? `only ${back.count} in ${seconds(back.ms)}` : seconds(back.ms),
      baseline: `stop ${seconds(restart.stopMs)}, start ${seconds(restart.startMs)}; CPU: proxy ${seconds(cpu.proxy / 1000)}, agents ${seconds(cpu.agents / 1000)}`,
      ratio: NaN,
      target: '<= 10 s',
      pass: back.count >= opts.agents && back.ms <= 10_000,
    },
  ];
}
