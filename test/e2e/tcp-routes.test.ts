import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launchChromium, spkiFromPin } from '../harness/browser.js';
import { eventually } from '../harness/eventually.js';
import { Nginx } from '../harness/nginx.js';
import { freePort } from '../harness/ports.js';
import { Sshd } from '../harness/sshd.js';
import { TestCluster, type Person } from '../helpers/cluster.js';
import { haveProgram } from '../helpers/programs.js';
import { CLI, run, tempDir } from '../helpers/postern.js';

const tools = haveProgram('ssh', ['-V']) && haveProgram('/usr/sbin/sshd', ['-V']) && haveProgram('curl', ['--version']) && haveProgram('nginx', ['-v']);
const PASSWORD = 'correct horse battery staple';

/** postern.yaml with routes to the sshd: by policy, by roles' route_labels, and by source address. */
function config(sshPort: number, extra = '', replyPort = 9): string {
  return `auth:
  second_factor: off
proxy:
${extra}  routes:
    - from: tcp+https://reply.example.com:7
      to: tcp://127.0.0.1:${replyPort}
      policy: [{ allow: { and: [{ authenticated_user: true }] } }]
    - from: tcp+https://ssh.example.com:22
      to: tcp://127.0.0.1:${sshPort}
      policy:
        - allow:
            and:
              - authenticated_user: true
              - user: { in: [alice, erin] }
    - from: tcp+https://labelled.example.com:22
      to: tcp://127.0.0.1:${sshPort}
      labels: { env: dev }
    - from: tcp+https://office.example.com:22
      to: tcp://127.0.0.1:${sshPort}
      policy:
        - allow:
            or:
              - source_ip: 10.0.0.0/8
`;
}

describe.runIf(tools)('TCP routes: postern tcp, HTTP CONNECT and policies', () => {
  let sshd: Sshd;
  let cluster: TestCluster;
  let alice: Person;

  /** Answers only once the client has sent all it will (FIN): how many bytes it got. */
  const replyServer = createServer({ allowHalfOpen: true }, (socket) => {
    let bytes = 0;
    socket.on('data', (d: Buffer) => (bytes += d.length));
    socket.on('end', () => socket.end(`got ${bytes} bytes\n`));
  });

  beforeAll(async () => {
    sshd = await Sshd.start();
    replyServer.listen(0, '127.0.0.1');
    await once(replyServer, 'listening');
    const file = join(tempDir(), 'postern.yaml');
    writeFileSync(file, config(sshd.port, '', (replyServer.address() as { port: number }).port));
    cluster = await TestCluster.start(['--config', file]);
    const dir = tempDir();
    writeFileSync(join(dir, 'dev-routes.yaml'), 'kind: role\nversion: v1\nmetadata: { name: dev-routes }\nspec:\n  allow:\n    route_labels: { env: dev }\n');
    await cluster.ctl(['create', '-f', join(dir, 'dev-routes.yaml')]);
    await cluster.addUser('alice', PASSWORD, 'access');
    await cluster.addUser('bob', PASSWORD, 'access');
    await cluster.addUser('erin', PASSWORD, 'dev-routes');
    alice = cluster.person();
    expect((await alice.login('alice', PASSWORD, '')).code).toBe(0);
  });
  afterAll(async () => {
    await cluster?.stop();
    await sshd?.stop();
    replyServer.close();
  });

  const proxyCommand = (extra = '') => `${process.execPath} ${CLI} tcp --listen - %h:%p${extra}`;
  /** OpenSSH through the proxy, as `person`, running `command` on the sshd. */
  const ssh = (person: Person, host: string, command: string, extra = '') =>
    run('ssh', [...sshd.sshArgs(proxyCommand(extra)), '-p', '22', `root@${host}`, command], { env: { POSTERN_HOME: person.home }, timeoutMs: 30_000 });

  /** `postern tcp --listen` for a route, as `person`; resolves once it listens. */
  async function listen(person: Person, route: string): Promise<{ port: number; stderr: () => string; stop: () => void }> {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'tcp', route, '--listen', `127.0.0.1:${port}`], { env: { ...process.env, POSTERN_HOME: person.home } });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d));
    await eventually(() => (err.includes('Listening') ? true : undefined), () => err);
    return { port, stderr: () => err, stop: () => child.kill() };
  }

  /** Sends `bytes` through a listener, half-closes, and returns the whole answer. */
  async function exchange(port: number, bytes: number): Promise<string> {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    socket.end('x'.repeat(bytes));
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d));
    await once(socket, 'close');
    return answer;
  }

  it('delivers the answer to a client that has finished sending (half-close), on stdio and on a listener', async () => {
    const viaStdio = await run(process.execPath, [CLI, 'tcp', '--listen', '-', 'reply.example.com:7'], { input: 'hello', env: { POSTERN_HOME: alice.home } });
    expect(viaStdio.stdout).toBe('got 5 bytes\n');
    const listener = await listen(alice, 'reply.example.com:7');
    try {
      // One after another, then eight at once: the first find spare connections of their own, the
      // rest share the listener's HTTP/2 connection; the answer arrives whole either way.
      for (let i = 1; i <= 3; i++) expect(await exchange(listener.port, 1000 * i)).toBe(`got ${1000 * i} bytes\n`);
      const sizes = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => 70_000 * i);
      expect(await Promise.all(sizes.map((n) => exchange(listener.port, n)))).toEqual(sizes.map((n) => `got ${n} bytes\n`));
    } finally {
      listener.stop();
    }
  });

  it('carries OpenSSH through the proxy with ProxyCommand, with the login certificate', async () => {
    const r = await ssh(alice, 'ssh.example.com', 'echo "hello from $(whoami)"');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('hello from root\n');
    const authorize = await cluster.server.waitForLog((l) => l.msg === 'authorize' && l.host === 'ssh.example.com:22' && l.allow === true);
    expect(authorize).toMatchObject({ user: 'alice', method: 'CONNECT', reasons: [expect.stringContaining('authenticated_user (alice is signed in)')], request_id: expect.any(String) });
    const access = await cluster.server.waitForLog((l) => l.msg === 'access' && l.request_id === authorize.request_id);
    expect(access).toMatchObject({ response_code: 200, response_code_details: 'ok', user: 'alice', client: '127.0.0.1', bytes_up: expect.any(Number), bytes_down: expect.any(Number), duration_ms: expect.any(Number) });
    expect(Number(access.bytes_up)).toBeGreaterThan(1000);
    const audit = await cluster.ctl(['audit', 'ls', '--format', 'json', '--type', 'route.tunnel.end', '--user', 'alice']);
    const ends = audit.stdout.trim().split('\n').map((l) => JSON.parse(l) as { authority: string });
    expect(ends.find((e) => e.authority === 'ssh.example.com:22')).toMatchObject({ target: `127.0.0.1:${sshd.port}`, reason: 'ended' });
  });

  it('answers route_not_found for a port no route has, naming the port that does', async () => {
    const r = await run(process.execPath, [CLI, 'tcp', '--listen', '-', 'ssh.example.com:443'], { env: { POSTERN_HOME: alice.home }, input: '' });
    expect(r.code).toBe(69);
    expect(r.stderr).toContain('CONNECT ssh.example.com:443 refused (HTTP 404, route_not_found): route_not_found: no TCP route matches ssh.example.com:443; this host is routed on ssh.example.com:22');
  });

  it('refuses users the policy or their roles do not allow, with the reasons', async () => {
    const bob = cluster.person();
    expect((await bob.login('bob', PASSWORD, '')).code).toBe(0);
    const byPolicy = await ssh(bob, 'ssh.example.com', 'true');
    expect(byPolicy.code).not.toBe(0);
    expect(byPolicy.stderr).toMatch(/CONNECT ssh\.example\.com:22 refused \(HTTP 403, access_denied\): bob may not reach ssh\.example\.com:22: no allow rule matched: rule 1 needs user in \["alice", "erin"\] \(the user is bob\)/);
    await cluster.addUser('frank', PASSWORD, 'auditor'); // no role of frank's grants routes
    const frank = cluster.person();
    expect((await frank.login('frank', PASSWORD, '')).code).toBe(0);
    const byRoles = await ssh(frank, 'labelled.example.com', 'true');
    expect(byRoles.stderr).toMatch(/refused \(HTTP 403, access_denied\): frank may not reach labelled\.example\.com:22: no role allows route/);
    const erin = cluster.person();
    expect((await erin.login('erin', PASSWORD, '')).code).toBe(0);
    expect((await ssh(erin, 'labelled.example.com', 'echo labelled')).stdout).toBe('labelled\n');
  });

  it('answers 401 to a CONNECT without identity (curl as the client)', async () => {
    const caFile = join(tempDir(), 'ca.pem');
    writeFileSync(caFile, (await cluster.ctl(['auth', 'export'])).stdout);
    const r = await run('curl', ['-sS', '-v', '--proxy', `https://postern.localhost:${cluster.server.proxyPort}`, '--proxy-cacert', caFile, '--proxytunnel', '--max-time', '5', 'telnet://ssh.example.com:22']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/< HTTP\/1\.1 401 Unauthorized/);
    // A client that accepts HTML (a browser) is sent to sign in instead.
    const html = await run('curl', ['-sS', '-v', '--proxy', `https://postern.localhost:${cluster.server.proxyPort}`, '--proxy-cacert', caFile, '--proxytunnel', '--proxy-header', 'Accept: text/html', '--max-time', '5', 'telnet://ssh.example.com:22']);
    expect(html.stderr).toMatch(/< HTTP\/1\.1 302 Found/);
    expect(html.stderr).toContain(`< Location: https://postern.localhost:${cluster.server.proxyPort}/web/login`);
    // Where signing in cannot help (this client's address is outside the route's source_ip), 403 and why.
    const office = await run('curl', ['-sS', '-v', '--proxy', `https://postern.localhost:${cluster.server.proxyPort}`, '--proxy-cacert', caFile, '--proxytunnel', '--proxy-header', 'Accept: text/html', '--max-time', '5', 'telnet://office.example.com:22']);
    expect(office.stderr).toMatch(/< HTTP\/1\.1 403 Forbidden/);
  });

  it('tells postern tcp without identity that signing in would not help where the address rules it out', async () => {
    const fresh = cluster.person(); // no profile and a browser that never answers: it must not try to sign in
    const r = await run(process.execPath, [CLI, 'tcp', '--listen', '-', '--proxy-url', `https://postern.localhost:${cluster.server.proxyPort}`, '--ca-pin', cluster.pin, '--browser-cmd', '/bin/false', 'office.example.com:22'], { env: { POSTERN_HOME: fresh.home }, input: '' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/refused \(HTTP 403, access_denied\): this client may not reach office\.example\.com:22, signed in or not: no allow rule matched: .*10\.0\.0\.0\/8.*127\.0\.0\.1/);
  });

  it('signs in through the browser when there is no certificate, and caches the token', async () => {
    if (!haveChromium()) return;
    const fresh = cluster.person(); // no profile: postern tcp must sign in
    const urlFile = join(tempDir(), 'url');
    const browserCmd = join(tempDir(), 'open-browser.sh');
    writeFileSync(browserCmd, `#!/bin/sh\necho "$1" > ${urlFile}\n`, { mode: 0o755 });
    const port = await freePort();
    const tcp = spawn(process.execPath, [CLI, 'tcp', '--listen', `127.0.0.1:${port}`, '--proxy-url', `https://postern.localhost:${cluster.server.proxyPort}`, '--ca-pin', cluster.pin, '--browser-cmd', browserCmd, 'ssh.example.com:22'], {
      env: { ...process.env, POSTERN_HOME: fresh.home },
    });
    let err = '';
    tcp.stderr.on('data', (d: Buffer) => (err += d));
    const browser = await launchChromium({ trustSpki: [spkiFromPin(cluster.pin)] });
    try {
      await eventually(() => (err.includes('Listening on') ? true : undefined), () => err);
      // The first connection makes it sign in; the "browser" it opened gets the URL.
      const first = connect(port, '127.0.0.1');
      first.on('error', () => {});
      const url = await eventually(() => { try { return readFileSync(urlFile, 'utf8').trim() || undefined; } catch { return undefined; } }, () => `no URL; stderr: ${err}`, 10_000);
      const page = await browser.newPage();
      await page.goto(url);
      await page.getByLabel('User name').fill('alice');
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.getByText('You are signed in').waitFor();
      const [banner] = (await once(first, 'data')) as [Buffer];
      expect(String(banner)).toMatch(/^SSH-2\.0-OpenSSH/);
      first.destroy();
      expect(err).toContain('Signed in as alice.');
      // Then the token carries tunnels opened together, over spares and the shared HTTP/2 connection alike.
      const banners = await Promise.all(
        [1, 2, 3, 4].map(async () => {
          const socket = connect(port, '127.0.0.1');
          const [data] = (await once(socket, 'data')) as [Buffer];
          socket.destroy();
          return String(data).slice(0, 8);
        }),
      );
      expect(banners).toEqual(Array(4).fill('SSH-2.0-'));
      expect(err.match(/Signed in as/g)).toHaveLength(1);
      const cached = join(fresh.home, 'tokens', `postern.localhost-${cluster.server.proxyPort}.json`);
      const saved = JSON.parse(readFileSync(cached, 'utf8')) as { user: string; token: string };
      expect(saved).toMatchObject({ user: 'alice', token: expect.any(String) });
      // The token opens tunnels; it says who it is, and is no login for the rest of the API.
      const caFile = join(tempDir(), 'ca.pem');
      writeFileSync(caFile, (await cluster.ctl(['auth', 'export'])).stdout);
      const api = (path: string) => run('curl', ['-sS', '--cacert', caFile, '-H', `authorization: Bearer ${saved.token}`, '-w', '\n%{http_code}', cluster.server.url(path)]);
      expect((await api('/webapi/whoami')).stdout).toMatch(/"username":"alice"[^]*\n200$/);
      expect((await api('/webapi/nodes')).stdout).toMatch(/this token from `postern tcp` opens TCP tunnels only[^]*\n403$/);
    } finally {
      await browser.close();
      tcp.kill();
    }
  });

  it('closes a live SSH session within a second when a role change takes the route away', async () => {
    const erin = cluster.person();
    expect((await erin.login('erin', PASSWORD, '')).code).toBe(0);
    const before = cluster.server.logs.length;
    const session = ssh(erin, 'labelled.example.com', 'echo started; sleep 30; echo finished');
    await eventually(() => (cluster.server.logs.slice(before).some((l) => l.msg === 'authorize' && l.user === 'erin' && l.allow === true) ? true : undefined), () => 'the tunnel never opened', 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    const dir = tempDir();
    writeFileSync(join(dir, 'dev-routes.yaml'), 'kind: role\nversion: v1\nmetadata: { name: dev-routes }\nspec:\n  allow:\n    route_labels: { env: prod }\n');
    const changedAt = Date.now();
    expect((await cluster.ctl(['create', '-f', join(dir, 'dev-routes.yaml')])).stdout).toContain('updated');
    const r = await session;
    expect(Date.now() - changedAt).toBeLessThan(2000);
    expect(r.stdout).toBe('started\n');
    // The ProxyCommand says why it stopped, and does not exit as if sshd had hung up.
    expect(r.stderr).toContain('the proxy ended the tunnel to labelled.example.com:22');
    const closed = await cluster.server.waitForLog((l) => l.msg === 'closing a session: its access was revoked' && l.user === 'erin');
    expect(closed.reason).toMatch(/^no role allows route "labelled\.example\.com:22" \(labels env=dev\): role dev-routes needs env=prod/);
    const end = await cluster.ctl(['audit', 'ls', '--format', 'json', '--type', 'route.tunnel.end', '--user', 'erin']);
    expect(end.stdout).toContain('"reason":"revoked: no role allows route \\"labelled.example.com:22\\"');
  });

  it('closes a token-authenticated tunnel within a second when the user loses the role', async () => {
    const roleFile = join(tempDir(), 'gina-routes.yaml');
    writeFileSync(roleFile, 'kind: role\nversion: v1\nmetadata: { name: gina-routes }\nspec:\n  allow:\n    route_labels: { env: dev }\n');
    await cluster.ctl(['create', '-f', roleFile]);
    await cluster.addUser('gina', PASSWORD, 'gina-routes');
    const ca = (await cluster.ctl(['auth', 'export'])).stdout;
    // A web session's secret is what a CLI browser login hands `postern tcp` as its bearer token.
    const jar = join(tempDir(), 'jar');
    const caFile = join(tempDir(), 'ca.pem');
    writeFileSync(caFile, ca);
    await run('curl', ['-sS', '--cacert', caFile, '-c', jar, '-H', 'content-type: application/json', '-d', JSON.stringify({ user: 'gina', password: PASSWORD }), cluster.server.url('/webapi/sessions')]);
    const token = /__Host-postern_session\t(\S+)/.exec(readFileSync(jar, 'utf8'))![1]!;
    const socket = tlsConnect({ port: cluster.server.proxyPort, host: '127.0.0.1', servername: 'postern.localhost', ca, ALPNProtocols: ['http/1.1'] });
    await once(socket, 'secureConnect');
    socket.write(`CONNECT labelled.example.com:22 HTTP/1.1\r\nHost: labelled.example.com:22\r\nProxy-Authorization: Bearer ${token}\r\n\r\n`);
    let received = '';
    socket.on('data', (d: Buffer) => (received += d));
    await eventually(() => (/SSH-2\.0-OpenSSH/.test(received) ? true : undefined), () => received);
    expect(received).toMatch(/^HTTP\/1\.1 200/);
    const changedAt = Date.now();
    let reset: NodeJS.ErrnoException | undefined;
    socket.on('error', (err) => (reset = err));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await cluster.ctl(['users', 'update', 'gina', '--roles=auditor']);
    await closed;
    expect(Date.now() - changedAt).toBeLessThan(2000);
    // Reset, not ended: the client can tell a revoked tunnel from a service that hung up.
    expect(reset?.code).toBe('ECONNRESET');
    const revoked = await cluster.server.waitForLog((l) => l.msg === 'closing a session: its access was revoked' && l.user === 'gina');
    expect(revoked.reason).toMatch(/^no role allows route "labelled\.example\.com:22" .*: role auditor has no route_labels/);
  });

  it('closes a live SSH session, and the tunnels of a listener, within a second of a lock on its user', async () => {
    const before = cluster.server.logs.length;
    const started = ssh(alice, 'ssh.example.com', 'echo started; sleep 30; echo finished');
    // Wait for this session's tunnel to be authorized, then for the command to be running.
    await eventually(() => (cluster.server.logs.slice(before).some((l) => l.msg === 'authorize' && l.user === 'alice' && l.allow === true) ? true : undefined), () => 'the tunnel never opened', 10_000);
    // Four tunnels through a listener: spare connections and its shared HTTP/2 connection alike.
    const listener = await listen(alice, 'ssh.example.com:22');
    try {
      const tunnels = await Promise.all(
        [1, 2, 3, 4].map(async () => {
          const socket = connect({ port: listener.port, host: '127.0.0.1' });
          let error: NodeJS.ErrnoException | undefined;
          socket.on('error', (err) => (error = err));
          const [banner] = (await once(socket, 'data')) as [Buffer];
          expect(String(banner)).toMatch(/^SSH-2\.0-OpenSSH/);
          // Reset, not ended: the client can tell a revoked tunnel from a service that hung up.
          const closed = new Promise<string | undefined>((resolve) => socket.once('close', () => resolve(error?.code)));
          return { closed }; // (a bare promise would be awaited here)
        }),
      );
      await new Promise((r) => setTimeout(r, 1500));
      const lockedAt = Date.now();
      expect((await cluster.ctl(['lock', '--user', 'alice', '--message', 'tunnel test'])).code).toBe(0);
      const r = await started;
      expect(await Promise.all(tunnels.map((t) => t.closed))).toEqual(Array(4).fill('ECONNRESET'));
      expect(Date.now() - lockedAt).toBeLessThan(2500);
      expect(r.stdout).toBe('started\n');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('the proxy ended the tunnel to ssh.example.com:22');
      const told = () => listener.stderr().match(/the proxy ended the tunnel to ssh\.example\.com:22/g)?.length;
      await eventually(() => (told() === 4 ? true : undefined), () => listener.stderr());
    } finally {
      listener.stop();
    }
    // The connection with the certificate, and each tunnel on it, are live grants: the lock ends both.
    await cluster.server.waitForLog((l) => (l.msg === 'closing a connection: its certificate no longer stands' || l.msg === 'closing a session: its access was revoked') && l.user === 'alice');
    const locks = JSON.parse((await cluster.ctl(['get', 'locks', '--format', 'json'])).stdout) as { id: string }[];
    for (const l of locks) await cluster.ctl(['rm', 'lock', l.id]);
  });
});

describe.runIf(tools)('TCP routes behind an L4 edge with PROXY protocol', () => {
  it('sees the real client address in logs and in source_ip policies', async () => {
    const sshd = await Sshd.start();
    const file = join(tempDir(), 'postern.yaml');
    writeFileSync(file, config(sshd.port, '  use_proxy_protocol: true\n'));
    const cluster = await TestCluster.start(['--config', file]);
    // nginx connects to Postern from 127.0.0.9 and says in the PROXY header that the client is 127.0.0.1.
    const nginx = await Nginx.stream(() => `proxy_pass 127.0.0.1:${cluster.server.proxyPort};\n    proxy_protocol on;\n    proxy_bind 127.0.0.9;`);
    try {
      await cluster.addUser('alice', PASSWORD, 'access');
      const alice = cluster.person();
      // Log in through the edge too: the proxy only takes connections with a PROXY header now.
      const login = await alice.run(['login', `--proxy=postern.localhost:${nginx.port}`, '--user=alice', '--password-stdin', `--ca-pin=${cluster.pin}`], PASSWORD);
      expect(login.code, login.stderr).toBe(0);
      const via = (host: string) => run('ssh', [...sshd.sshArgs(`${process.execPath} ${CLI} tcp --listen - %h:%p`), '-p', '22', `root@${host}`, 'echo through the edge'], { env: { POSTERN_HOME: alice.home }, timeoutMs: 30_000 });
      const r = await via('ssh.example.com');
      expect(r.stdout).toBe('through the edge\n');
      const access = await cluster.server.waitForLog((l) => l.msg === 'access' && l.host === 'ssh.example.com:22' && l.response_code === 200);
      expect(access).toMatchObject({ client: '127.0.0.1', peer: expect.stringMatching(/^127\.0\.0\.9:/) });
      const office = await via('office.example.com');
      expect(office.stderr).toMatch(/refused \(HTTP 403, access_denied\): alice may not reach office\.example\.com:22: no allow rule matched: .*10\.0\.0\.0\/8.*127\.0\.0\.1/);
      expect(readFileSync(join(nginx.dir, 'access.log'), 'utf8')).toMatch(/127\.0\.0\.1 -> 127\.0\.0\.1:\d+ \[200\]/);
    } finally {
      await nginx.stop();
      await cluster.stop();
      await sshd.stop();
    }
  });
});
