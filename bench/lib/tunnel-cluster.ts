import { execFile, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalAdmin } from '../../src/admin/admin-client.js';
import { AgentEnrollment } from '../../src/auth/agent-enrollment.js';
import { loadConfig, type ConfigOverride } from '../../src/config/load.js';
import type { PosternConfig } from '../../src/config/schema.js';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { caPin } from '../../src/pki/pin.js';
import { freePort } from '../../test/harness/ports.js';
import { tempDir } from '../../test/harness/temp.js';
import { profileFlags, ServerProcess } from './server-process.js';
import { connectTo, type Connect, type ConnectSpec } from './transfer.js';

export const TUNNEL_SCRIPT = fileURLToPath(new URL('../tunnel-under-test.js', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
/** Apps are reached at <app>.<public host>, which the proxy's certificate covers. */
const PUBLIC_HOST = 'postern.localhost';
const BENCH_PASSWORD = 'a bench password, long enough';

/** A target an agent serves as an app: TCP on `port`, unless `uri` says otherwise (http://…). */
/** A database an agent serves. */
export interface BenchDb {
  name: string;
  protocol: 'postgres' | 'mysql';
  port: number;
}

export interface BenchApp {
  name: string;
  port: number;
  uri?: string;
}

/** What tunnel-under-test.ts `agents` reads: where to dial, what to serve, and one identity per agent. */
export interface AgentsSpec {
  proxy: string;
  hostCaPem: string;
  apps: { name: string; uri: string }[];
  agents: { name: string; certPem: string; keyPem: string }[];
}

/**
 * The bench cluster's configuration, read by the proxy child and by the bench's own admin access
 * alike. Logs at warn: a thousand agents' connect lines would cost the proxy CPU the bench measures.
 */
export function clusterOverrides(dir: string, port: number): ConfigOverride[] {
  const set = (path: string, value: unknown): ConfigOverride => ({ path, flag: path, value });
  return [
    set('data_dir', join(dir, 'data')),
    set('proxy.listen_addr', `127.0.0.1:${port}`),
    set('proxy.public_addr', `${PUBLIC_HOST}:${port}`),
    set('diag_addr', '127.0.0.1:0'),
    set('log.level', 'warn'),
    set('log.format', 'json'),
  ];
}

export const appSpec = (app: BenchApp) => ({ name: app.name, uri: app.uri ?? `tcp://127.0.0.1:${app.port}` });

export function keyPair(): { publicPem: string; privatePem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/**
 * A real cluster for tunnel benchmarks: auth + proxy in a child process (tunnel-under-test.ts)
 * on a fixed port and data directory, so it can be restarted in place; agents as `postern start
 * --roles=agent` processes or many in one child; a user certificate for clients. Tunnels are
 * counted the way an operator would, by the proxy's postern_tunnels_connected metric.
 */
export class BenchCluster {
  private readonly config: PosternConfig;
  private user: Promise<{ cert: string; key: string; ca: string }> | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
    private proxy: ServerProcess,
  ) {
    this.config = loadConfig({ overrides: clusterOverrides(dir, port), cwd: dir }).config;
  }

  /** `yaml` becomes the cluster's postern.yaml (routes, say); the bench's own settings override it. */
  static async start(yaml?: string): Promise<BenchCluster> {
    const dir = tempDir('postern-bench-tunnel-');
    const port = await freePort();
    if (yaml) writeFileSync(join(dir, 'postern.yaml'), yaml);
    return new BenchCluster(dir, port, await ServerProcess.spawn(TUNNEL_SCRIPT, ['proxy', dir, String(port)], { nodeFlags: NODE_FLAGS }));
  }

  /** The proxy's process, for cpu and mem readings. */
  get proxyProcess(): ServerProcess {
    return this.proxy;
  }

  /** Stops the proxy with SIGINT, as an operator would, and starts it again on the same port and data (with `yaml` as its new postern.yaml). */
  async restart(yaml?: string): Promise<{ stopMs: number; startMs: number }> {
    const t0 = performance.now();
    await this.proxy.stop('SIGINT');
    const t1 = performance.now();
    if (yaml !== undefined) writeFileSync(join(this.dir, 'postern.yaml'), yaml);
    this.proxy = await ServerProcess.spawn(TUNNEL_SCRIPT, ['proxy', this.dir, String(this.port)], { nodeFlags: NODE_FLAGS });
    return { stopMs: t1 - t0, startMs: performance.now() - t1 };
  }

  async tunnels(): Promise<number> {
    const res = await fetch(`http://127.0.0.1:${this.proxy.ready.diag_port}/metrics?name=postern_tunnels_connected`);
    const line = (await res.text()).split('\n').find((l) => l.startsWith('postern_tunnels_connected '));
    return Number(line?.split(' ')[1] ?? 0);
  }

  /**
   * Polls until the proxy counts `count` tunnels or `timeoutMs` passes; says how long it took and
   * how many it counted. Every 100 ms, reading that one metric: all of /metrics (the process
   * metrics list /proc/self/fd, a descriptor per tunnel) took ~6% of the proxy's CPU while it
   * took agents back.
   */
  async tunnelsWithin(count: number, timeoutMs: number): Promise<{ ms: number; count: number }> {
    const started = performance.now();
    for (;;) {
      const now = await this.tunnels();
      const ms = performance.now() - started;
      if (now >= count || ms > timeoutMs) return { ms, count: now };
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Resolves with the milliseconds until the proxy counts `count` tunnels; throws after `timeoutMs`. */
  async waitForTunnels(count: number, timeoutMs = 60_000): Promise<number> {
    const got = await this.tunnelsWithin(count, timeoutMs);
    if (got.count < count) throw new Error(`the proxy counts ${got.count} tunnels, not ${count}, after ${timeoutMs / 1000} s`);
    return got.ms;
  }

  /** The bench user (access role), made once: its certificate, key, and the CA that vouches for the proxy. */
  async userTls(): Promise<{ cert: string; key: string; ca: string }> {
    this.user ??= (async () => {
      const keys = keyPair();
      return this.withAdmin(async (admin) => {
        const { user } = await admin.run('users.add', { name: 'bench', roles: ['access'], traits: { logins: ['root'], db_users: ['bench'], db_names: ['bench'] }, password: BENCH_PASSWORD });
        const cert = await admin.auth.issueUserCertificate(user, keys.publicPem, undefined, '127.0.0.1');
        return { cert: cert.certPem, key: keys.privatePem, ca: admin.auth.cluster.authorities.host.certPem };
      });
    })();
    return this.user;
  }

  /** How the bench user opens a connection to one of its TCP apps (postern-tcp). */
  async userSpec(): Promise<(app: string) => ConnectSpec> {
    const tls = await this.userTls();
    return (app) => ({ port: this.port, servername: `${app}.${PUBLIC_HOST}`, tls, status: true });
  }

  async userConnect(): Promise<(app: string) => Connect> {
    const spec = await this.userSpec();
    return (app) => connectTo(spec(app));
  }

  /**
   * One agent as operators run it (`postern start --roles=agent`, joining with a token), serving
   * apps, SSH nodes and databases; resolves once its tunnel is up. `proxyPort` is where it dials (a far-path
   * relay in front of the proxy), the proxy itself by default.
   */
  async startAgent(apps: BenchApp[], nodes: BenchApp[] = [], proxyPort = this.port, databases: BenchDb[] = []): Promise<{ stop(): Promise<void> }> {
    const type = [...(apps.length ? ['app'] : []), ...(nodes.length ? ['ssh'] : []), ...(databases.length ? ['db'] : [])].join(',');
    const { token, ca_pin } = await this.withAdmin((admin) => admin.run('tokens.add', { type }));
    const before = await this.tunnels();
    const dataDir = tempDir('postern-bench-agent-');
    const args = ['start', '--roles=agent', '--data-dir', dataDir, `--proxy=127.0.0.1:${proxyPort}`, `--token=${token}`, `--ca-pin=${ca_pin}`, '--log-level=error'];
    const resources = [
      ...apps.map((a) => `--app=name=${a.name},uri=${appSpec(a).uri}`),
      ...nodes.map((n) => `--ssh=name=${n.name},addr=127.0.0.1:${n.port}`),
      ...databases.map((d) => `--db=name=${d.name},protocol=${d.protocol},uri=127.0.0.1:${d.port}`),
    ];
    const child = spawn(process.execPath, [...NODE_FLAGS, ...profileFlags(), CLI, ...args, ...resources], { stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = once(child, 'exit');
    // Its stdin is not ours, so it would outlive a bench that crashed, dialling a dead proxy forever.
    const kill = () => child.kill('SIGKILL');
    process.once('exit', kill);
    await Promise.race([this.waitForTunnels(before + 1, 20_000), exited.then(([code]) => Promise.reject(new Error(`the agent exited with ${code}`)))]);
    return {
      async stop() {
        process.off('exit', kill);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
        await exited;
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }

  /**
   * `count` agents in one child process, each with its own host identity (agents are keyed by
   * ID). They join through the real enrollment code with a static token, in this process: over
   * HTTP each would add a TLS connection and a round trip to the setup. Resolves once all are up.
   */
  async startAgents(count: number, apps: BenchApp[]): Promise<ServerProcess> {
    const spec = await this.withAdmin(async (admin): Promise<AgentsSpec> => {
      const token = 'bench-static-token-long-enough-to-be-a-real-one';
      const enrollment = new AgentEnrollment(admin.auth, [{ roles: ['app'], value: token }], this.config.auth.host_cert_ttl);
      const agents: AgentsSpec['agents'] = [];
      for (let i = 0; i < count; i++) {
        const keys = keyPair();
        const name = `bench-agent-${i}`;
        const cert = await enrollment.join({ token, publicKeyPem: keys.publicPem, name, roles: ['app'], remoteAddr: '127.0.0.1' });
        agents.push({ name, certPem: cert.certPem, keyPem: keys.privatePem });
      }
      return { proxy: `127.0.0.1:${this.port}`, hostCaPem: admin.auth.cluster.authorities.host.certPem, apps: apps.map(appSpec), agents };
    });
    const file = join(this.dir, 'agents.json');
    writeFileSync(file, JSON.stringify(spec));
    return ServerProcess.spawn(TUNNEL_SCRIPT, ['agents', file], { readyTimeoutMs: 120_000, nodeFlags: NODE_FLAGS });
  }

  /** `postern ctl …` on the cluster's data directory (as on the server host). */
  ctl(args: string[]): Promise<string> {
    return new Promise((resolve, reject) =>
      execFile(process.execPath, [CLI, 'ctl', ...args, '--data-dir', join(this.dir, 'data')], (err, stdout, stderr) => (err ? reject(new Error(`ctl ${args.join(' ')}: ${stderr}`)) : resolve(stdout))),
    );
  }

  /**
   * A person logged in to this cluster as the bench user (`postern login`, password only: the
   * bench clusters run with second_factor off): the POSTERN_HOME of their profile.
   */
  async loginHome(): Promise<string> {
    const home = join(tempDir('postern-bench-home-'), '.postern');
    const { ca } = await this.userTls(); // makes the bench user
    const login = spawn(process.execPath, [CLI, 'login', `--proxy=${PUBLIC_HOST}:${this.port}`, '--user=bench', '--password-stdin', `--ca-pin=${caPin(ca)}`], { env: { ...process.env, POSTERN_HOME: home }, stdio: ['pipe', 'ignore', 'inherit'] });
    login.stdin!.end(BENCH_PASSWORD);
    const [code] = (await once(login, 'exit')) as [number];
    if (code !== 0) throw new Error(`postern login exited with ${code}`);
    return home;
  }

  /** Stops the proxy gracefully and removes the cluster's data (a thousand agents' audit trail is tens of MB). */
  async stop(): Promise<void> {
    await this.proxy.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Admin operations straight on the data directory, as `postern ctl` on the server host runs them. */
  private async withAdmin<T>(fn: (admin: LocalAdmin) => Promise<T>): Promise<T> {
    const admin = await LocalAdmin.open(this.config);
    try {
      return await fn(admin);
    } finally {
      await admin.close();
    }
  }
}
