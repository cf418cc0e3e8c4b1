import { once } from 'node:events';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/eventually.js';
import { HAProxy } from '../harness/haproxy.js';
import { havePostgresServer, ThrowawayDatabases } from '../harness/pg-databases.js';
import { postgresBinDir, PrivatePostgres } from '../harness/postgres.js';
import { freePort } from '../harness/ports.js';
import { TestCluster } from '../helpers/cluster.js';
import { dialTcpApp, echoServer, roundTrip } from '../helpers/echo.js';
import { haveProgram } from '../helpers/programs.js';
import { posternNode } from '../helpers/ssh-node.js';
import { CLI, PosternProcess, postern, run, tempDir, type RunResult } from '../helpers/postern.js';

const databases = new ThrowawayDatabases();
const clusters: TestCluster[] = [];
const stoppable: { stop(): Promise<unknown> }[] = [];
afterAll(async () => {
  await Promise.all([...clusters, ...stoppable].map((c) => c.stop()));
  await databases.dropAll();
});

/** A postern.yaml whose store is this PostgreSQL database (and `extra` lines). */
function postgresConfig(url: string, extra = ''): string {
  const file = join(tempDir('postern-ha-'), 'postern.yaml');
  writeFileSync(file, `storage:\n  type: postgres\n  conn_string: ${url}\n${extra}`);
  return file;
}

const PASSWORD = 'correct horse battery';

/**
 * Proxies on one PostgreSQL database, behind HAProxy (round robin, PROXY v2) when there are
 * several; an agent serving a TCP echo app through the cluster's address; alice logged in there.
 */
class HaCluster {
  private constructor(
    readonly proxies: PosternProcess[],
    readonly ports: number[],
    readonly address: string,
    readonly config: string,
    readonly pin: string,
    private readonly home: string,
  ) {}

  /** `haproxyChecks`: health checks that take a dead proxy out; `diag`: the proxies serve /readyz. */
  static async start(url: string, opts: { proxies: number; haproxyChecks?: boolean; diag?: boolean; role?: { name: string; yaml: string } }): Promise<HaCluster> {
    const ports = await Promise.all(Array.from({ length: opts.proxies }, () => freePort()));
    let port = ports[0]!;
    if (opts.proxies > 1) {
      const haproxy = await HAProxy.tcp(ports, `send-proxy-v2${opts.haproxyChecks ? ' check inter 300 fall 1 rise 1' : ''}`);
      stoppable.push(haproxy);
      port = haproxy.port;
    }
    const address = `postern.localhost:${port}`;
    const config = postgresConfig(url, `auth:\n  second_factor: off\nproxy:\n  public_addr: ${address}\n  use_proxy_protocol: ${opts.proxies > 1}\n`);
    // Started together: exactly one set of CAs is made, and every proxy uses it.
    const proxies = await Promise.all(ports.map((p) => PosternProcess.start({ diag: opts.diag === true, args: HaCluster.args(config, p) })));
    stoppable.push(...proxies);
    const ctl = (args: string[], input?: string) => postern(['ctl', ...args, '--config', config], input === undefined ? {} : { input });
    const pin = (JSON.parse((await ctl(['status', '--format', 'json'])).stdout) as { authorities: { host: { pin: string } } }).authorities.host.pin;
    const home = join(tempDir('postern-home-'), '.postern');
    mkdirSync(home, { mode: 0o700 });
    const c = new HaCluster(proxies, ports, address, config, pin, home);
    if (opts.role) {
      const file = join(tempDir('postern-ha-'), 'role.yaml');
      writeFileSync(file, opts.role.yaml);
      expect((await c.ctl(['create', '-f', file])).code).toBe(0);
    }
    expect((await c.ctl(['users', 'add', 'alice', `--roles=access${opts.role ? `,${opts.role.name}` : ''}`, '--password-stdin'], PASSWORD)).code).toBe(0);
    return c;
  }

  /** An agent of its own serving `resources` (agent flags such as --app …), dialling the cluster's address. */
  async startAgent(name: string, type: string, resources: string[]): Promise<PosternProcess> {
    const token = (JSON.parse((await this.ctl(['tokens', 'add', `--type=${type}`, '--format', 'json'])).stdout) as { token: string }).token;
    const args = ['--roles=agent', `--proxy=${this.address}`, `--ca-pin=${this.pin}`, `--token=${token}`, `--agent-name=${name}`, ...resources];
    const agent = await PosternProcess.spawn(join(tempDir('postern-agent-'), 'data'), args, (r) => /^tunnel to .* is up$/.test(r.msg));
    stoppable.push(agent);
    return agent;
  }

  /** An agent serving a TCP echo app named `app`. */
  async echoAgent(name = 'edge-1', app = 'echo'): Promise<void> {
    const echo = await echoServer();
    stoppable.push({ stop: async () => void echo.server.close() });
    await this.startAgent(name, 'app', ['--app', `name=${app},uri=tcp://127.0.0.1:${echo.port}`]);
  }

  private static args(config: string, port: number): string[] {
    return ['--config', config, '--listen-addr', `127.0.0.1:${port}`];
  }

  ctl(args: string[], input?: string): Promise<RunResult> {
    return postern(['ctl', ...args, '--config', this.config], input === undefined ? {} : { input });
  }

  login(): Promise<RunResult> {
    return postern(['login', `--proxy=${this.address}`, '--user=alice', '--password-stdin', `--ca-pin=${this.pin}`], { input: PASSWORD, env: { POSTERN_HOME: this.home } });
  }

  /** `postern …` as alice. */
  alice(args: string[]): Promise<RunResult> {
    return postern(args, { env: { POSTERN_HOME: this.home } });
  }

  /** A TCP connection to a TCP app (the echo app) through the cluster's address, after the proxy's status line. */
  dialEcho(app = 'echo'): Promise<TLSSocket> {
    return dialTcpApp(Number(this.address.split(':')[1]), app, join(this.home, 'profiles', this.address.replace(':', '-')));
  }

  /** The ids of the proxies that hold a tunnel of each agent, once `done` says they are the ones awaited. */
  async heldBy(done: (ids: string[][]) => boolean, what: string, timeoutMs = 20_000): Promise<string[][]> {
    let held: string[][] = [];
    await eventually(
      async () => {
        held = (JSON.parse((await this.ctl(['get', 'agents', '--format', 'json'])).stdout) as { proxies: string[] }[]).map((a) => a.proxies);
        return done(held) ? true : undefined;
      },
      () => `${what}: held by ${JSON.stringify(held)}`,
      timeoutMs,
    );
    return held;
  }

  /** Which proxy (its position) serves a connection, from the proxies' logs. */
  proxyOf(socket: TLSSocket): number {
    return this.proxies.findIndex((p) => p.logs.some((r) => r.msg === 'authorize' && r.client === `127.0.0.1:${socket.localPort}`));
  }

  /** Starts proxy `i` again on its port and data directory (a new process, so a new id). */
  async restart(i: number): Promise<void> {
    this.proxies[i] = await PosternProcess.start({ dataDir: this.proxies[i]!.dataDir, args: HaCluster.args(this.config, this.ports[i]!) });
    stoppable.push(this.proxies[i]);
  }
}

const serverUp = await havePostgresServer();
const tools = haveProgram('haproxy', ['-v']) && haveProgram('curl', ['--version']);
const sshTools = haveProgram('ssh', ['-V']) && haveProgram('/usr/sbin/sshd', ['-V']);
const postgresPrograms = postgresBinDir() !== undefined || (process.env.CI === 'true' ? failMissing('initdb') : false);

describe.runIf(serverUp)('high availability: PostgreSQL storage', () => {
  it('ctl backup from SQLite, ctl restore into PostgreSQL: the same users log in, with the same CA pin', async () => {
    const sqlite = await TestCluster.start();
    clusters.push(sqlite);
    const secret = await sqlite.addUser('alice', PASSWORD, 'access');
    const dir = tempDir('postern-backup-');
    const out = join(dir, 'cluster.yaml');
    const backup = await sqlite.ctl(['backup', '--out', out]);
    expect(backup.stderr).toMatch(/^backed up \d+ items of cluster postern\.localhost from .* to .*cluster\.yaml$/m);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    // Redirected by a shell, as the docs show: the file the shell made with the umask becomes 0600.
    const redirected = join(dir, 'redirected.yaml');
    const shell = await run('sh', ['-c', `umask 022 && "${process.execPath}" "${CLI}" ctl backup --data-dir "${sqlite.server.dataDir}" > "${redirected}"`]);
    expect(shell.code).toBe(0);
    expect(statSync(redirected).mode & 0o777).toBe(0o600);
    await sqlite.stop();

    const config = postgresConfig(await databases.create());
    const restored = await postern(['ctl', 'restore', out, '--config', config]);
    expect(restored.stdout).toMatch(/^restored \d+ items of cluster postern\.localhost into PostgreSQL at 127\.0\.0\.1:5432\/postern_test_/);
    const again = await postern(['ctl', 'restore', out, '--config', config]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/the store is not empty \(\d+ items, cluster postern\.localhost\): .*--force/);

    const pg = await TestCluster.start([], { config });
    clusters.push(pg);
    expect(pg.server.stdout).toMatch(/Storage: {6}PostgreSQL at 127\.0\.0\.1:5432\/postern_test_\w+\n/);
    expect(pg.pin).toBe(sqlite.pin);
    const person = pg.person();
    // The code comes from the first cluster's tracker: the restored store remembers the codes it saw.
    const login = await person.run(['login', `--proxy=${pg.proxy}`, '--user=alice', '--password-stdin', `--ca-pin=${sqlite.pin}`, '--otp', await sqlite.freshCode(secret)], PASSWORD);
    expect(login.stderr + login.stdout).toMatch(/logged in as alice/i);
    expect(login.code).toBe(0);
  });
});

describe.runIf(serverUp && tools && sshTools)('high availability: three proxies on one PostgreSQL database behind HAProxy', () => {
  it('five agents hold a tunnel to every proxy; users reach TCP and web apps and an SSH node whichever proxy they land on; a lock ends live sessions on every proxy within a second', async () => {
    const ha = await HaCluster.start(await databases.create(), { proxies: 3, role: { name: 'root-anywhere', yaml: 'kind: role\nversion: v1\nmetadata: { name: root-anywhere }\nspec:\n  allow:\n    logins: [root]\n    node_labels: { "*": "*" }\n' } });
    for (const p of ha.proxies) expect(p.stdout).toContain(`CA pin:       ${ha.pin}`);
    // Two agents serve one TCP app (either may carry a session), one another, one a web app, one an SSH node.
    await ha.echoAgent('edge-1');
    await ha.echoAgent('edge-2');
    await ha.echoAgent('edge-3', 'echo2');
    const web = createHttpServer((req, res) => res.end(`web says hello to ${String(req.headers['postern-user'] ?? 'someone')}\n`));
    web.listen(0, '127.0.0.1');
    await once(web, 'listening');
    stoppable.push({ stop: async () => void web.close() });
    await ha.startAgent('web-agent', 'app', ['--app', `name=web,uri=http://127.0.0.1:${(web.address() as { port: number }).port}`]);
    const sshd = await posternNode(ha, 'node-1');
    stoppable.push(sshd);
    await ha.startAgent('ssh-agent', 'ssh', ['--ssh', `name=node-1,addr=127.0.0.1:${sshd.port}`]);
    // Through round robin, each agent dials the load balancer again until it holds all three.
    await ha.heldBy((all) => all.length === 5 && all.every((ids) => ids.length === 3), 'five agents hold tunnels to all three proxies');
    const apps = JSON.parse((await ha.ctl(['get', 'apps', '--format', 'json'])).stdout) as { name: string; agents: string[]; proxies: string[] }[];
    expect(apps.map((a) => [a.name, [...a.agents].sort(), a.proxies.length])).toEqual([['echo', ['edge-1', 'edge-2'], 3], ['echo2', ['edge-3'], 3], ['web', ['web-agent'], 3]]);
    expect((await ha.login()).code).toBe(0);

    // Nine TCP connections, round robin: three on each proxy, every one through an agent's tunnel to that proxy.
    const sockets = await Promise.all(Array.from({ length: 9 }, () => ha.dialEcho()));
    const echoed = await Promise.all(sockets.map((s, i) => roundTrip(s, `hello ${i}\n`)));
    expect(echoed).toEqual(Array.from({ length: 9 }, (_, i) => `hello ${i}\n`));
    expect([0, 1, 2].map((i) => sockets.filter((s) => ha.proxyOf(s) === i).length)).toEqual([3, 3, 3]);
    const other = await ha.dialEcho('echo2');
    expect(await roundTrip(other, 'to echo2\n')).toBe('to echo2\n');
    sockets.push(other);
    // The web app with the certificate of `postern apps login`, three times: each lands on another proxy.
    const files = JSON.parse((await ha.alice(['apps', 'login', 'web', '--format', 'json'])).stdout) as { certFile: string; keyFile: string; ca_file: string };
    for (let i = 0; i < 3; i++) {
      const r = await run('curl', ['-sS', '--cert', files.certFile, '--key', files.keyFile, '--cacert', files.ca_file, `https://web.${ha.address}/`]);
      expect(r.stdout).toBe('web says hello to someone\n');
    }
    // OpenSSH through postern ssh, three times.
    for (let i = 0; i < 3; i++) {
      const r = await ha.alice(['ssh', 'root@node-1', `echo "$(whoami) on node-1, run ${i}"`]);
      expect(r.stdout).toBe(`root on node-1, run ${i}\n`);
    }

    // A lock, written to the store by ctl, reaches every proxy: all ten live sessions end.
    const locked = Date.now();
    const closed = sockets.map((s) => whenClosed(s).then(() => Date.now() - locked));
    expect((await ha.ctl(['lock', '--user', 'alice', '--message', 'incident 19'])).code).toBe(0);
    expect(Math.max(...(await Promise.all(closed)))).toBeLessThan(1500);
  }, 150_000);
});

describe.runIf(serverUp && tools)('high availability: a proxy killed under load', () => {
  it("kill -9 of one proxy while new connections keep coming: at most 1% fail, the other proxies' sessions go on, the agent comes back to the restarted one", async () => {
    // Health checks every 300 ms take a dead proxy out; a refused connection is redispatched.
    const ha = await HaCluster.start(await databases.create(), { proxies: 3, haproxyChecks: true });
    await ha.echoAgent();
    const before = new Set((await ha.heldBy((all) => all[0]?.length === 3, 'the agent holds all three'))[0]);
    expect((await ha.login()).code).toBe(0);
    // Six live sessions, two on each proxy (round robin).
    const live: TLSSocket[] = [];
    for (let i = 0; i < 6; i++) live.push(await ha.dialEcho());
    await eventually(() => (live.every((s) => ha.proxyOf(s) >= 0) ? true : undefined), () => 'every session is in a proxy log');
    const victim = 1;
    const survivors = live.filter((s) => ha.proxyOf(s) !== victim);
    expect(survivors).toHaveLength(4);

    // A bounded loop of new connections, four at a time; the victim is killed a quarter of the way in.
    const total = 400;
    let started = 0;
    const errors: string[] = [];
    const worker = async () => {
      while (started < total) {
        const n = started++;
        if (n === total / 4) ha.proxies[victim]!.child.kill('SIGKILL');
        try {
          await within(10_000, `connection ${n}`, async () => {
            const s = await ha.dialEcho();
            try {
              expect(await roundTrip(s, `n${n}\n`)).toBe(`n${n}\n`);
            } finally {
              s.destroy();
            }
          });
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    // Only connections in flight on the victim when it died can fail: the rest are redispatched.
    process.stdout.write(`high availability: kill -9 of one proxy of three: ${errors.length} of ${total} new connections failed${errors.length ? ` (${[...new Set(errors)].join('; ')})` : ''}\n`);
    expect(errors.length, errors.join('; ')).toBeLessThanOrEqual(total / 100);
    const echoed = await Promise.all(survivors.map((s, i) => roundTrip(s, `still ${i}\n`)));
    expect(echoed).toEqual(survivors.map((_, i) => `still ${i}\n`));

    // Restarted (a new process, so a new id), it is held by the agent again without anyone's help.
    await ha.restart(victim);
    await ha.heldBy((all) => all[0]?.length === 3 && all[0].some((id) => !before.has(id)), 'the agent holds the restarted proxy', 40_000);
  }, 150_000);
});

describe.runIf(postgresPrograms)('high availability: PostgreSQL stopped for 10 s', () => {
  it('open sessions keep flowing, readiness and requests say the storage is away, and everything recovers by itself', async () => {
    const pg = await PrivatePostgres.start({ hba: ['host all all 127.0.0.1/32 trust'] });
    stoppable.push({ stop: async () => pg.stop() });
    const ha = await HaCluster.start(pg.url, { proxies: 1, diag: true });
    await ha.echoAgent();
    expect((await ha.login()).code).toBe(0);
    const session = await ha.dialEcho();
    expect(await roundTrip(session, 'before\n')).toBe('before\n');
    const readyz = async () => {
      const r = await fetch(`http://127.0.0.1:${ha.proxies[0]!.diagPort}/readyz`);
      return { status: r.status, body: (await r.json()) as { checks: Record<string, string> } };
    };
    expect((await readyz()).status).toBe(200);
    const server = new RegExp(`PostgreSQL at 127\\.0\\.0\\.1:${pg.port}/postgres: .*failed`);

    pg.pause();
    const stopped = Date.now();
    const during = await readyz();
    expect(during.status).toBe(503);
    expect(during.body.checks.storage).toMatch(server);
    expect(during.body.checks.storage).toMatch(/check storage\.conn_string/);
    // The open session does not need the store.
    expect(await roundTrip(session, 'during\n')).toBe('during\n');
    // A login does: it fails, saying so, without the database's address.
    const refused = await ha.login();
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/the cluster cannot reach its storage right now; try again in a moment/);
    expect(refused.stderr).not.toContain(String(pg.port));
    // ctl on the host says where and why.
    expect((await ha.ctl(['lock', '--user', 'alice'])).stderr).toMatch(server);
    await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - stopped))));
    expect(await roundTrip(session, 'still\n')).toBe('still\n');

    pg.resume();
    let ready = await readyz();
    await eventually(async () => ((ready = await readyz()).status === 200 ? true : undefined), () => `ready again: ${JSON.stringify(ready.body)}`, 15_000);
    expect((await ha.login()).code).toBe(0);
    // Watches came back too: a lock made now by ctl ends the session that lived through the outage.
    const closed = whenClosed(session);
    expect((await ha.ctl(['lock', '--user', 'alice', '--message', 'after the outage'])).code).toBe(0);
    await closed;
  }, 90_000);
});

/** `fn`, or a failure naming `what` after `ms`. */
async function within(ms: number, what: string, fn: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([fn(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** When the socket closes, whether cleanly or reset (events.once would reject on the reset's error). */
function whenClosed(socket: TLSSocket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

function failMissing(program: string): never {
  throw new Error(`${program} is not installed; .ci/run must install PostgreSQL's server programs`);
}
