import { once } from 'node:events';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { readStatus } from '../../src/wire/stream-status.js';
import { eventually } from '../harness/eventually.js';
import { HAProxy } from '../harness/haproxy.js';
import { havePostgresServer, ThrowawayDatabases } from '../harness/pg-databases.js';
import { freePort } from '../harness/ports.js';
import { TestCluster } from '../helpers/cluster.js';
import { haveProgram } from '../helpers/programs.js';
import { CLI, PosternProcess, postern, run, tempDir } from '../helpers/postern.js';

const databases = new ThrowawayDatabases();
const clusters: TestCluster[] = [];
const stoppable: { stop(): Promise<unknown> }[] = [];
afterAll(async () => {
  await Promise.all([...clusters, ...stoppable].map((c) => c.stop()));
  await databases.dropAll();
});

/** A postern.yaml whose store is this PostgreSQL database. */
function postgresConfig(url: string): string {
  const file = join(tempDir('postern-ha-'), 'postern.yaml');
  writeFileSync(file, `storage:\n  type: postgres\n  conn_string: ${url}\n`);
  return file;
}

const serverUp = await havePostgresServer();
const tools = haveProgram('haproxy', ['-v']);

describe.runIf(serverUp)('high availability: PostgreSQL storage', () => {
  it('ctl backup from SQLite, ctl restore into PostgreSQL: the same users log in, with the same CA pin', async () => {
    const sqlite = await TestCluster.start();
    clusters.push(sqlite);
    const secret = await sqlite.addUser('alice', 'correct horse battery', 'access');
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
    const login = await person.run(['login', `--proxy=${pg.proxy}`, '--user=alice', '--password-stdin', `--ca-pin=${sqlite.pin}`, '--otp', await sqlite.freshCode(secret)], 'correct horse battery');
    expect(login.stderr + login.stdout).toMatch(/logged in as alice/i);
    expect(login.code).toBe(0);
  });
});

describe.runIf(serverUp && tools)('high availability: three proxies on one PostgreSQL database behind HAProxy', () => {
  it('agents hold a tunnel to every proxy; users reach their apps whichever proxy they land on; a lock ends a live session within a second', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    const haproxy = await HAProxy.tcp(ports, 'send-proxy-v2');
    stoppable.push(haproxy);
    const lb = `postern.localhost:${haproxy.port}`;
    const config = join(tempDir('postern-ha-'), 'postern.yaml');
    writeFileSync(
      config,
      `storage:\n  type: postgres\n  conn_string: ${await databases.create()}\nauth:\n  second_factor: off\nproxy:\n  public_addr: ${lb}\n  use_proxy_protocol: true\n`,
    );
    // Started together: exactly one set of CAs is made, and every proxy uses it.
    const proxies = await Promise.all(ports.map((port) => PosternProcess.start({ args: ['--config', config, '--listen-addr', `127.0.0.1:${port}`] })));
    stoppable.push(...proxies);
    const ctl = (args: string[], input?: string) => postern(['ctl', ...args, '--config', config], input === undefined ? {} : { input });
    const pin = (JSON.parse((await ctl(['status', '--format', 'json'])).stdout) as { authorities: { host: { pin: string } } }).authorities.host.pin;
    for (const p of proxies) expect(p.stdout).toContain(`CA pin:       ${pin}`);

    const echo = await echoServer();
    stoppable.push({ stop: async () => void echo.close() });
    const token = (JSON.parse((await ctl(['tokens', 'add', '--type=app', '--format', 'json'])).stdout) as { token: string }).token;
    const agent = await PosternProcess.spawn(join(tempDir('postern-agent-'), 'data'), ['--roles=agent', `--proxy=${lb}`, `--ca-pin=${pin}`, `--token=${token}`, '--agent-name=edge-1', '--app', `name=echo,uri=tcp://127.0.0.1:${(echo.address() as { port: number }).port}`], (r) => /^tunnel to .* is up$/.test(r.msg));
    stoppable.push(agent);
    // Through round robin, the agent dials the load balancer again until it holds all three.
    let agents: { name: string; proxies: string[] }[] = [];
    await eventually(
      async () => {
        agents = JSON.parse((await ctl(['get', 'agents', '--format', 'json'])).stdout) as typeof agents;
        return agents.length === 1 && agents[0]!.proxies.length === 3 ? true : undefined;
      },
      () => `the agent holds tunnels to all three proxies: ${JSON.stringify(agents)}`,
      20_000,
    );

    expect((await ctl(['users', 'add', 'alice', '--roles=access', '--password-stdin'], 'correct horse battery')).code).toBe(0);
    const home = join(tempDir('postern-home-'), '.postern');
    mkdirSync(home, { mode: 0o700 });
    const login = await postern(['login', `--proxy=${lb}`, '--user=alice', '--password-stdin', `--ca-pin=${pin}`], { input: 'correct horse battery', env: { POSTERN_HOME: home } });
    expect(login.code).toBe(0);
    const profile = (file: string) => readFileSync(join(home, 'profiles', `postern.localhost-${haproxy.port}`, file));

    /** A TCP connection to the echo app through the load balancer, after the proxy's status line. */
    const dialEcho = async (): Promise<TLSSocket> => {
      const socket = tlsConnect({ port: haproxy.port, host: '127.0.0.1', servername: 'echo.postern.localhost', ALPNProtocols: ['postern-tcp'], ca: profile('trusted-ca.pem'), cert: profile('cert.pem'), key: profile('key.pem') });
      await readStatus(socket);
      return socket;
    };
    // Nine connections, round robin: three on each proxy, every one through the agent's tunnel to that proxy.
    const sockets = await Promise.all(Array.from({ length: 9 }, () => dialEcho()));
    const echoed = await Promise.all(sockets.map((s, i) => roundTrip(s, `hello ${i}\n`)));
    expect(echoed).toEqual(Array.from({ length: 9 }, (_, i) => `hello ${i}\n`));
    const served = proxies.map((p) => p.logs.filter((r) => r.msg === 'authorize' && r.resource === 'echo' && r.allow === true).length);
    expect(served).toEqual([3, 3, 3]);

    // A lock, written to the store by ctl, reaches every proxy: all nine live sessions end.
    const locked = Date.now();
    const closed = sockets.map((s) => once(s, 'close').then(() => Date.now() - locked));
    expect((await ctl(['lock', '--user', 'alice', '--message', 'incident 19'])).code).toBe(0);
    const after = await Promise.all(closed);
    expect(Math.max(...after)).toBeLessThan(1500);
  }, 120_000);
});

async function echoServer(): Promise<Server> {
  const server = createServer((socket) => socket.pipe(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** Sends text and resolves with as much coming back (the echo), leaving the socket open. */
function roundTrip(socket: TLSSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (chunk: Buffer) => {
      got += String(chunk);
      if (got.length < text.length) return;
      socket.off('data', onData).off('error', reject);
      resolve(got);
    };
    socket.on('data', onData).once('error', reject);
    socket.resume();
    socket.write(text);
  });
}
