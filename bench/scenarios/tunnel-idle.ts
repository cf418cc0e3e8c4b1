import type { Row } from '../lib/stats.js';
import { BenchCluster } from '../lib/tunnel-cluster.js';

interface Memory {
  rss: number;
  heap_used: number;
}

const KIB = 1024;

/**
 * Idle agents on one proxy: what each tunnel costs the proxy process, and how long all of them
 * take to be back when the proxy is restarted (SIGINT, then a new process on the same port and
 * data). Memory is RSS and V8 heap after a full collection, read with no agents, with half of
 * them, and with all of them (each half in its own child process), every reading after the
 * tunnels have been up for a while. The figure per tunnel is the slope between the half and the
 * whole: what one more tunnel costs. The average over all of them from the start is shown too;
 * it also holds what the first tunnels cost once (compiled code, caches, heap growth), which no
 * later tunnel pays again. The proxy counts tunnels by its postern_tunnels_connected metric. The
 * CPU both sides spent while the agents came back is shown too: with the agents in two processes,
 * the agents' side can be what limits the figure.
 */
export async function tunnelIdleScenario(opts: { agents: number; settleMs: number }): Promise<Row[]> {
  const cluster = await BenchCluster.start();
  const half = Math.floor(opts.agents / 2);
  const reading = async (tunnels: number) => {
    await cluster.waitForTunnels(tunnels);
    // Through a few heartbeat polls and storage refreshes, so each tunnel is in its steady state.
    await new Promise((r) => setTimeout(r, opts.settleMs));
    return cluster.proxyProcess.ask<Memory>('mem');
  };
  const before = await cluster.proxyProcess.ask<Memory>('mem');
  const groups = [await cluster.startAgents(half, [{ name: 'idle', port: 9 }])]; // announced, never dialled
  const mid = await reading(half);
  groups.push(await cluster.startAgents(opts.agents - half, [{ name: 'idle', port: 9 }]));
  const after = await reading(opts.agents);
  const agentsCpu = async () => (await Promise.all(groups.map((g) => g.cpu()))).reduce((a, b) => a + b, 0);
  const cpuBefore = await agentsCpu();
  const restart = await cluster.restart();
  const back = await cluster.tunnelsWithin(opts.agents, 60_000);
  // Where the reconnect's time went: the new proxy's CPU (its start included) and the agents'.
  const cpu = { proxy: await cluster.proxyProcess.cpu(), agents: (await agentsCpu()) - cpuBefore };
  for (const g of groups) await g.stop();
  await cluster.stop();

  const slope = (key: keyof Memory) => (after[key] - mid[key]) / (opts.agents - half) / KIB;
  const average = (after.rss - before.rss) / opts.agents / KIB;
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return [
    {
      scenario: `idle tunnels (${opts.agents}): proxy memory per tunnel`,
      figure: `${slope('rss').toFixed(0)} KiB RSS, ${slope('heap_used').toFixed(0)} KiB heap per added tunnel`,
      baseline: `average from no tunnels ${average.toFixed(0)} KiB; proxy alone ${(before.rss / KIB / KIB).toFixed(0)} MiB RSS`,
      ratio: NaN,
      target: '<= 100 KiB',
      pass: slope('rss') <= 100,
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
