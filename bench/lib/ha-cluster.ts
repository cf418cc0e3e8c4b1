import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalAdmin } from '../../src/admin/admin-client.js';
import { AgentEnrollment } from '../../src/auth/agent-enrollment.js';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { loadConfig } from '../../src/config/load.js';
import { HAProxy } from '../../test/harness/haproxy.js';
import { freePort } from '../../test/harness/ports.js';
import { tempDir } from '../../test/harness/temp.js';
import { ServerProcess } from './server-process.js';
import { appSpec, keyPair, TUNNEL_SCRIPT, type AgentsSpec, type BenchApp } from './tunnel-cluster.js';

/**
 * Several proxies on one PostgreSQL database behind a real HAProxy (round robin, PROXY v2, health
 * checks), each in a child process of its own (tunnel-under-test.ts proxy-config), restartable in
 * place; agents many to a child process, dialling HAProxy, each keeping a tunnel to every proxy.
 */
export class HaBenchCluster {
  private constructor(
    private readonly dir: string,
    private readonly file: string,
    readonly ports: number[],
    readonly haproxy: HAProxy,
    readonly proxies: ServerProcess[],
  ) {}

  static async start(connectionString: string, count: number): Promise<HaBenchCluster> {
    const dir = tempDir('postern-bench-ha-');
    const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
    const haproxy = await HAProxy.tcp(ports, 'send-proxy-v2 check inter 300 fall 1 rise 1');
    const file = join(dir, 'postern.yaml');
    writeFileSync(file, `storage:\n  type: postgres\n  conn_string: ${connectionString}\nauth:\n  second_factor: off\nproxy:\n  public_addr: postern.localhost:${haproxy.port}\n  use_proxy_protocol: true\n`);
    const proxies: ServerProcess[] = [];
    // One after another: the first makes the CAs, which is not what is measured.
    for (let i = 0; i < count; i++) proxies.push(await HaBenchCluster.spawn(file, dir, i, ports[i]!));
    return new HaBenchCluster(dir, file, ports, haproxy, proxies);
  }

  private static spawn(file: string, dir: string, i: number, port: number): Promise<ServerProcess> {
    return ServerProcess.spawn(TUNNEL_SCRIPT, ['proxy-config', file, join(dir, `proxy-${i}`), String(port)], { nodeFlags: NODE_FLAGS });
  }

  /** Tunnels proxy `i` counts now (its postern_tunnels_connected metric). */
  async tunnels(i: number): Promise<number> {
    const res = await fetch(`http://127.0.0.1:${this.proxies[i]!.ready.diag_port}/metrics?name=postern_tunnels_connected`);
    const line = (await res.text()).split('\n').find((l) => l.startsWith('postern_tunnels_connected '));
    return Number(line?.split(' ')[1] ?? 0);
  }

  /** Polls until every proxy counts `count` tunnels, or `timeoutMs` passes; how long, and the counts. */
  async everyProxyWithin(count: number, timeoutMs: number): Promise<{ ms: number; counts: number[] }> {
    const started = performance.now();
    for (;;) {
      const counts = await Promise.all(this.proxies.map((_, i) => this.tunnels(i)));
      const ms = performance.now() - started;
      if (process.env.POSTERN_BENCH_TRACE) process.stderr.write(`${(ms / 1000).toFixed(1)} s: ${counts.join('/')}\n`);
      if (counts.every((c) => c >= count) || ms > timeoutMs) return { ms, counts };
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops proxy `i` with SIGINT and starts it again on its port and data (a new process: a new proxy id). */
  async restart(i: number): Promise<void> {
    await this.proxies[i]!.stop('SIGINT');
    this.proxies[i] = await HaBenchCluster.spawn(this.file, this.dir, i, this.ports[i]!);
  }

  /** `count` agents in one child process, each its own identity (joined in this process), dialling HAProxy. */
  async startAgents(count: number, apps: BenchApp[], group = 'a'): Promise<ServerProcess> {
    const { config } = loadConfig({ file: this.file, overrides: [{ path: 'data_dir', flag: 'data_dir', value: join(this.dir, 'admin') }] });
    const admin = await LocalAdmin.open(config);
    let spec: AgentsSpec;
    try {
      const token = 'bench-static-token-long-enough-to-be-a-real-one';
      const enrollment = new AgentEnrollment(admin.auth, [{ roles: ['app'], value: token }], config.auth.host_cert_ttl);
      const agents: AgentsSpec['agents'] = [];
      for (let i = 0; i < count; i++) {
        const keys = keyPair();
        const name = `bench-agent-${group}${i}`;
        const cert = await enrollment.join({ token, publicKeyPem: keys.publicPem, name, roles: ['app'], remoteAddr: '127.0.0.1' });
        agents.push({ name, certPem: cert.certPem, keyPem: keys.privatePem });
      }
      spec = { proxy: `127.0.0.1:${this.haproxy.port}`, hostCaPem: admin.auth.cluster.authorities.host.certPem, apps: apps.map(appSpec), agents };
    } finally {
      await admin.close();
    }
    const file = join(this.dir, `agents-${group}.json`);
    writeFileSync(file, JSON.stringify(spec));
    return ServerProcess.spawn(TUNNEL_SCRIPT, ['agents', file], { readyTimeoutMs: 180_000, nodeFlags: NODE_FLAGS });
  }

  async stop(): Promise<void> {
    for (const p of this.proxies) await p.stop();
    await this.haproxy.stop();
  }
}
