import { once } from 'node:events';
import { createHash, generateKeyPairSync, randomBytes, webcrypto } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect as http2Connect, type ClientHttp2Stream } from 'node:http2';
import type { Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readClusterState } from '../../src/auth/cluster-state.js';
import { createAuthority, issueCertificate, loadAuthority, type CertAuthority } from '../../src/pki/authority.js';
import { EC_ALGORITHM } from '../../src/pki/crypto.js';
import type { Identity } from '../../src/pki/identity.js';
import { SqliteBackend, storePath } from '../../src/storage/sqlite/sqlite-backend.js';
import { eventually } from '../harness/eventually.js';
import { TestCluster, type Person } from '../helpers/cluster.js';
import { dialTcpApp, echoServer, roundTrip } from '../helpers/echo.js';
import { haveProgram } from '../helpers/programs.js';
import { postern, run, tempDir, type PosternProcess } from '../helpers/postern.js';

const tools = haveProgram('openssl', ['version']);
const PASSWORD = 'correct horse battery staple';

/** The cluster's CAs, read from its data directory (what the server host has). */
async function authorities(cluster: TestCluster) {
  const backend = new SqliteBackend({ path: storePath(cluster.server.dataDir) });
  try {
    return (await readClusterState(backend, cluster.server.dataDir)).authorities;
  } finally {
    await backend.close();
  }
}

/** A certificate signed by `ca` for a key made here; written to files for programs like openssl. */
async function certificateFiles(ca: CertAuthority, name: string, identity: Omit<Identity, 'username' | 'expires'>, ttlMs: number, usage: 'client' | 'server' = 'client') {
  const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKey = await webcrypto.subtle.importKey('spki', keys.publicKey.export({ type: 'spki', format: 'der' }), EC_ALGORITHM, true, ['verify']);
  const cert = await issueCertificate(ca, { publicKey, commonName: name, ttlMs, usage, identity, ...(usage === 'server' ? { dnsNames: [name] } : {}) });
  const dir = tempDir();
  writeFileSync(join(dir, 'cert.pem'), cert.toString('pem'));
  writeFileSync(join(dir, 'key.pem'), keys.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), certPem: cert.toString('pem'), keyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

describe.runIf(tools)('agents and reverse tunnels', () => {
  let cluster: TestCluster;
  let echo: { server: Server; port: number };
  let alice: Person;
  const agents: PosternProcess[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.start();
    echo = await echoServer();
    const secret = await cluster.addUser('alice', PASSWORD, 'access');
    alice = cluster.person();
    const login = await alice.login('alice', PASSWORD, secret);
    if (login.code !== 0) throw new Error(login.stderr);
  });
  afterAll(async () => {
    for (const a of agents) await a.stop();
    echo?.server.close();
    await cluster?.stop();
  });

  const startAgent = async (...args: Parameters<TestCluster['startAgent']>) => {
    const agent = await cluster.startAgent(...args);
    agents.push(agent);
    return agent;
  };
  const profile = (file: string) => join(alice.home, 'profiles', `postern.localhost-${cluster.server.proxyPort}`, file);

  /** A TCP connection to an app through the proxy (postern-tcp with alice's certificate), after the status line. */
  const dialApp = (app: string) => dialTcpApp(cluster.server.proxyPort, app, join(alice.home, 'profiles', `postern.localhost-${cluster.server.proxyPort}`));

  it('joins with a token, announces its apps, and carries a TCP stream through the tunnel to openssl s_client', async () => {
    const token = await cluster.token('app');
    const agent = await startAgent(['--agent-name=edge-1', '--app', `name=echo,uri=tcp://127.0.0.1:${echo.port},labels=env=dev,team=web`], { token });
    expect(agent.stdout).toMatch(/Agent: +edge-1 \(id [0-9a-f-]{36}\)/);
    expect(agent.stdout).toContain(`app echo → tcp://127.0.0.1:${echo.port} (env=dev, team=web)`);
    for (const file of ['key.pem', 'cert.pem', 'identity.json']) expect(statSync(join(agent.dataDir, 'agents', 'edge-1', file)).mode & 0o777).toBe(0o600);

    expect((await cluster.ctl(['get', 'agents'])).stdout).toMatch(/edge-1\s+[0-9a-f-]{36}\s+app echo\s+127\.0\.0\.1\s+\S+\s+\d+s ago\s/);
    const apps = JSON.parse((await cluster.ctl(['get', 'apps', '--format', 'json'])).stdout) as unknown[];
    expect(apps).toEqual([{ kind: 'app', name: 'echo', labels: { env: 'dev', team: 'web' }, uri: `tcp://127.0.0.1:${echo.port}`, agents: ['edge-1'], proxies: [expect.any(String)] }]);

    const s = await run('sh', ['-c', `(printf 'hello through the tunnel\\n'; sleep 1) | openssl s_client -quiet -no_ign_eof -connect 127.0.0.1:${cluster.server.proxyPort} -servername echo.postern.localhost -alpn postern-tcp -cert ${profile('cert.pem')} -key ${profile('key.pem')} -CAfile ${profile('trusted-ca.pem')} 2>/dev/null`]);
    expect(s.stdout).toBe('{"ok":true}\nhello through the tunnel\n');

    const audit = await cluster.ctl(['audit', 'ls', '--format', 'json', '--type', 'agent.join', '--type', 'token.used', '--type', 'agent.connect']);
    expect(audit.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event)).toEqual(['token.used', 'agent.join', 'agent.connect']);
  });

  it('keeps an idle agent online past its records\' expiry by renewing their leases, without writing them', async () => {
    const agent = await startAgent(['--agent-name=idle-1', '--app', `name=idle,uri=tcp://127.0.0.1:${echo.port}`], { token: await cluster.token('app') });
    const listed = JSON.parse((await cluster.ctl(['get', 'agents', '--format', 'json'])).stdout) as { id: string; name: string }[];
    const id = listed.find((a) => a.name === 'idle-1')!.id;
    const backend = new SqliteBackend({ path: storePath(cluster.server.dataDir) });
    const watcher = backend.watch('/');
    await watcher.ready;
    const writes: string[] = [];
    const watching = (async () => {
      for await (const e of watcher) if ((e.type === 'put' ? e.item.key : e.key).includes(id)) writes.push(`${e.type} ${e.type === 'put' ? e.item.key : e.key}`);
    })();
    try {
      await new Promise((r) => setTimeout(r, 17_000)); // past RESOURCE_TTL_MS (15 s)
      expect(await backend.range(`/agents/${id}/`)).toHaveLength(1); // this proxy's record of it
      expect((await cluster.ctl(['get', 'apps'])).stdout).toContain('idle');
      expect(writes).toEqual([]);
    } finally {
      watcher.close();
      await watching;
      await backend.close();
      await agent.stop();
    }
  }, 30_000);

  it('refuses a used, unknown or wrong-type token and a wrong pin, with errors that say what to do', async () => {
    const agentArgs = (token: string, pin = cluster.pin) => ['start', '--roles=agent', `--proxy=${cluster.proxy}`, `--ca-pin=${pin}`, `--token=${token}`, '--data-dir', join(tempDir(), 'data'), '--app', `name=x,uri=tcp://127.0.0.1:${echo.port}`];
    const token = await cluster.token('app');
    expect((await startAgent(['--app', `name=once,uri=tcp://127.0.0.1:${echo.port}`], { token })).alive).toBe(true);
    const reused = await postern(agentArgs(token));
    expect(reused.code).toBe(77);
    expect(reused.stderr).toContain('the join token is unknown, expired or already used; make a new one on the server with `postern ctl tokens add --type=…`');
    const wrongType = await postern(agentArgs(await cluster.token('ssh')));
    expect(wrongType.stderr).toContain('the join token allows ssh, but this agent serves app; make a token with `postern ctl tokens add --type=app`');
    const wrongPin = await postern(agentArgs(await cluster.token('app'), `sha256:${'a'.repeat(64)}`));
    expect(wrongPin.code).toBe(77);
    expect(wrongPin.stderr).toContain(`serves a host CA with pin ${cluster.pin}, not the sha256:${'a'.repeat(64)} you gave`);
    const failed = await cluster.ctl(['audit', 'ls', '--format', 'json', '--type', 'agent.join.failed']);
    expect(failed.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { reason: string }).reason)).toEqual(['unknown, expired or used token', 'token does not allow app']);
  });

  it('takes an agent\'s apps offline within seconds when it dies, and a dial then fails fast', async () => {
    const agent = await startAgent(['--app', `name=flaky,uri=tcp://127.0.0.1:${echo.port}`], { token: await cluster.token('app') });
    const socket = await dialApp('flaky');
    expect(await roundTrip(socket, 'ping')).toBe('ping');
    socket.destroy();
    agent.child.kill('SIGKILL');
    await eventually(async () => (!(await cluster.ctl(['get', 'apps'])).stdout.includes('flaky') ? true : undefined), () => 'flaky is still listed', 3000);
    const started = Date.now();
    await expect(dialApp('flaky')).rejects.toThrow('agent for app "flaky" is offline');
    expect(Date.now() - started).toBeLessThan(2000); // fails fast rather than hanging
  });

  it('serves one app from two agents, and the survivor carries it when one dies', async () => {
    const app = ['--app', `name=ha,uri=tcp://127.0.0.1:${echo.port}`];
    const a = await startAgent(['--agent-name=ha-a', ...app], { token: await cluster.token('app') });
    await startAgent(['--agent-name=ha-b', ...app], { token: await cluster.token('app') });
    const listed = JSON.parse((await cluster.ctl(['get', 'apps', '--format', 'json'])).stdout) as { name: string; agents: string[] }[];
    expect(listed.find((r) => r.name === 'ha')?.agents.sort()).toEqual(['ha-a', 'ha-b']);
    a.child.kill('SIGKILL');
    for (let i = 0; i < 5; i++) {
      const s = await dialApp('ha');
      expect(await roundTrip(s, `n${i}`)).toBe(`n${i}`);
      s.destroy();
    }
  });

  it('does not let a slow stream stall the others on the same tunnel', async () => {
    await startAgent(['--app', `name=shared,uri=tcp://127.0.0.1:${echo.port}`], { token: await cluster.token('app') });
    // The slow one: sends 16 MiB to the echo service and never reads the echo back.
    const slow = await dialApp('shared');
    slow.on('error', () => {});
    slow.pause();
    const chunk = Buffer.alloc(64 * 1024, 7);
    for (let i = 0; i < 256; i++) slow.write(chunk);
    await new Promise((r) => setTimeout(r, 300));
    // Its echo backs up through the tunnel to this client; another stream must still flow.
    const quick = await dialApp('shared');
    for (let i = 0; i < 20; i++) expect(await roundTrip(quick, `q${i}`)).toBe(`q${i}`);
    quick.destroy();
    slow.destroy();
  });

  it('carries a bulk stream intact both ways while small exchanges share the tunnel', async () => {
    await startAgent(['--app', `name=bulk,uri=tcp://127.0.0.1:${echo.port}`], { token: await cluster.token('app') });
    const bulk = await dialApp('bulk');
    const quick = await dialApp('bulk');
    const block = randomBytes(1 << 20);
    const total = 32 << 20;
    const sent = createHash('sha256');
    const echoed = createHash('sha256');
    let received = 0;
    const back = new Promise<void>((resolve, reject) => {
      bulk.on('data', (d: Buffer) => {
        echoed.update(d);
        received += d.length;
        if (received === total) resolve();
      });
      bulk.once('error', reject);
      bulk.resume(); // reading the status line left it paused
    });
    const pump = (async () => {
      for (let i = 0; i < total / block.length; i++) {
        const piece = Buffer.from(block);
        piece.writeUInt32BE(i); // no two MiB alike, so a repeated or dropped one changes the hash
        sent.update(piece);
        if (!bulk.write(piece)) await once(bulk, 'drain');
      }
    })();
    // The tunnel's windows follow the bulk stream (net/window-tuner.ts); small exchanges keep going.
    for (let i = 0; i < 20; i++) expect(await roundTrip(quick, `q${i}`)).toBe(`q${i}`);
    await pump;
    await back;
    expect(echoed.digest('hex')).toBe(sent.digest('hex'));
    bulk.destroy();
    quick.destroy();
  });

  it('refuses forged, expired and user certificates on the tunnel port, and says why', async () => {
    const { host, user } = await authorities(cluster);
    const evil = await loadAuthority(await createAuthority('host', 'postern.localhost'));
    const identity = { kind: 'host' as const, roles: ['app'], traits: { agent_name: ['intruder'] } };
    const forged = await certificateFiles(evil, 'forged-agent', identity, 3_600_000);
    const expired = await certificateFiles(host, 'old-agent', identity, 1000);
    const asUser = await certificateFiles(user, 'alice', { kind: 'user', roles: ['access'], traits: {} }, 3_600_000);
    await new Promise((r) => setTimeout(r, 1100));
    for (const files of [forged, expired, asUser]) {
      await run('sh', ['-c', `sleep 1 | openssl s_client -quiet -no_ign_eof -connect 127.0.0.1:${cluster.server.proxyPort} -servername postern.localhost -alpn postern-reversetunnel -cert ${files.cert} -key ${files.key} >/dev/null 2>&1`]);
    }
    const refusals = await cluster.ctl(['audit', 'ls', '--format', 'json', '--type', 'agent.refused']);
    const reasons = refusals.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { reason: string }).reason);
    expect(reasons[0]).toContain("not issued by this cluster's host CA");
    expect(reasons[1]).toMatch(/expired at/);
    expect(reasons[2]).toContain('a user certificate cannot be used as a host certificate');
    await cluster.server.waitForLog((l) => l.msg === 'refused an agent tunnel');
  });

  it('an agent refuses streams for anything it did not announce (never an open relay)', async () => {
    // A stand-in proxy with a certificate from the cluster's host CA, which the agent trusts since it joined.
    const token = await cluster.token('app');
    const joined = await startAgent(['--agent-name=strict', '--app', `name=echo2,uri=tcp://127.0.0.1:${echo.port}`], { token });
    await joined.stop();
    const { host } = await authorities(cluster);
    const proxyCert = await certificateFiles(host, 'postern.localhost', { kind: 'host', roles: [], traits: {} }, 3_600_000, 'server');
    const sessions: ((stream: { kind: string; name: string }) => Promise<ClientHttp2Stream>)[] = [];
    const fake = createTlsServer({ cert: proxyCert.certPem, key: proxyCert.keyPem, ALPNProtocols: ['postern-reversetunnel'], requestCert: true, rejectUnauthorized: false }, (socket) => {
      socket.on('error', () => {}); // the agent hangs up when the test stops it
      const session = http2Connect('http://agent', { createConnection: () => socket });
      session.on('error', () => {});
      // Keep the agent's heartbeat happy, and expose a way to open CONNECT streams.
      const poll = (after: number) => {
        if (!session.destroyed) session.request({ ':path': `/v1/resources?after=${after}` }).on('error', () => {}).resume().on('end', () => poll(1));
      };
      poll(-1);
      sessions.push(async ({ kind, name }) => {
        const stream = session.request({ ':method': 'CONNECT', ':authority': `${name}.${kind}:1`, 'postern-kind': kind, 'postern-name': name });
        const [headers] = (await once(stream, 'response')) as [Record<string, string>];
        return Object.assign(stream, { status: Number(headers[':status']), reason: decodeURIComponent(headers['postern-error'] ?? '') });
      });
    });
    fake.listen(0, '127.0.0.1');
    await once(fake, 'listening');
    const port = (fake.address() as { port: number }).port;
    const agent = await startAgent(['--agent-name=strict', '--app', `name=echo2,uri=tcp://127.0.0.1:${echo.port}`], { dataDir: joined.dataDir, proxy: `postern.localhost:${port}` });
    try {
      const open = sessions[0]!;
      const refusedName = (await open({ kind: 'app', name: 'internal-db' })) as ClientHttp2Stream & { status: number; reason: string };
      expect([refusedName.status, refusedName.reason]).toEqual([404, 'this agent does not serve app "internal-db"']);
      const refusedKind = (await open({ kind: 'node', name: 'echo2' })) as ClientHttp2Stream & { status: number; reason: string };
      expect(refusedKind.status).toBe(404);
      // The same stand-in can reach what the agent does announce: the refusals above are the agent's choice.
      const allowed = (await open({ kind: 'app', name: 'echo2' })) as ClientHttp2Stream & { status: number };
      expect(allowed.status).toBe(200);
      allowed.end('relay');
      let back = '';
      for await (const d of allowed) back += String(d);
      expect(back).toBe('relay');
      await agent.waitForLog((l) => l.msg === 'refused a stream for a resource this agent does not serve' && l.name === 'internal-db');
    } finally {
      await agent.stop();
      fake.close();
    }
  });

  it('a lock on an agent closes its tunnel and keeps it out until the lock is lifted', async () => {
    const agent = await startAgent(['--agent-name=suspect', '--app', `name=watched,uri=tcp://127.0.0.1:${echo.port}`], { token: await cluster.token('app') });
    const lock = await cluster.ctl(['lock', '--agent', 'suspect', '--message', 'compromised host']);
    expect(lock.code, lock.stderr).toBe(0);
    expect(lock.stdout).toMatch(/Locked: agent [0-9a-f-]{36} is locked: compromised host/);
    await agent.waitForLog((l) => String(l.msg).includes('refused by the proxy: access refused: agent') && String(l.msg).includes('compromised host'), 5000);
    await expect(dialApp('watched')).rejects.toThrow('agent for app "watched" is offline');
    const id = /Lock id (\S+);/.exec(lock.stdout)![1]!;
    expect((await cluster.ctl(['rm', 'lock', id])).code).toBe(0);
    await eventually(async () => ((await cluster.ctl(['get', 'apps'])).stdout.includes('watched') ? true : undefined), () => 'the agent did not come back', 10_000);
  });

  it('reports tunnels and dial errors as metrics', async () => {
    const metrics = await run('curl', ['-sS', `http://127.0.0.1:${cluster.server.diagPort}/metrics`]);
    expect(metrics.stdout).toMatch(/^postern_tunnels_connected [1-9]\d*$/m);
    expect(metrics.stdout).toMatch(/^postern_tunnel_dial_errors_total\{reason="agent_offline"\} [1-9]\d*$/m);
    expect(metrics.stdout).toMatch(/^postern_tunnel_dial_duration_seconds_count [1-9]\d*$/m);
  });

  it('is back within 10 s of a proxy restart', async () => {
    const agent = await startAgent(['--app', `name=steady,uri=tcp://127.0.0.1:${echo.port}`], { token: await cluster.token('app') });
    const upsBefore = agent.logs.filter((l) => /^tunnel to .* is up$/.test(l.msg)).length;
    await cluster.restart();
    const restarted = Date.now();
    await agent.waitForLog((l) => /^tunnel to .* is up$/.test(l.msg) && agent.logs.filter((x) => /^tunnel to .* is up$/.test(x.msg)).length > upsBefore, 10_000);
    expect(Date.now() - restarted).toBeLessThan(10_000);
    const s = await dialApp('steady');
    expect(await roundTrip(s, 'again')).toBe('again');
    s.destroy();
  });
});

describe.runIf(tools)('agent certificates', () => {
  it('are renewed before they expire, without a restart or a new token', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'postern.yaml'), 'auth:\n  host_cert_ttl: 6s\n');
    const cluster = await TestCluster.start(['--config', join(dir, 'postern.yaml')]);
    const echo = await echoServer();
    const agent = await cluster.startAgent(['--agent-name=renewer', '--app', `name=renewed,uri=tcp://127.0.0.1:${echo.port}`], { token: await cluster.token('app') });
    try {
      const first = readFileSync(join(agent.dataDir, 'agents', 'renewer', 'cert.pem'), 'utf8');
      await agent.waitForLog((l) => l.msg === 'renewed the host certificate', 8000);
      expect(readFileSync(join(agent.dataDir, 'agents', 'renewer', 'cert.pem'), 'utf8')).not.toBe(first);
      // Past the first certificate's expiry the agent is still online, on its renewed certificate.
      await new Promise((r) => setTimeout(r, 3000));
      expect((await cluster.ctl(['get', 'apps'])).stdout).toContain('renewed');
      const issued = await cluster.ctl(['audit', 'ls', '--format', 'json', '--type', 'cert.issued']);
      expect(issued.stdout.trim().split('\n').filter((l) => l.includes('"cert_kind":"host"')).length).toBeGreaterThanOrEqual(2);
      expect(agent.logs.some((l) => l.level === 'error')).toBe(false);
      // Make before break: the renewed tunnel replaced the old one, which never went down.
      expect(agent.logs.filter((l) => / is down /.test(l.msg)).map((l) => l.msg)).toEqual([]);
    } finally {
      await agent.stop();
      echo.server.close();
      await cluster.stop();
    }
  });
});
