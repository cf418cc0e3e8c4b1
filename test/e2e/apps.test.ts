import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from '../harness/eventually.js';
import { freePort } from '../harness/ports.js';
import { TestCluster, type Person } from '../helpers/cluster.js';
import { haveProgram } from '../helpers/programs.js';
import { CLI, run, tempDir, type PosternProcess } from '../helpers/postern.js';
import { TestApp } from '../helpers/test-app.js';

const tools = haveProgram('curl', ['--version']);
const PASSWORD = 'correct horse battery staple';

/** An https server with a self-signed certificate (made by openssl) that says what it was asked. */
async function selfSignedHttpsApp(): Promise<{ server: Server; port: number }> {
  const dir = tempDir();
  const r = await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-days', '1']);
  expect(r.code, r.stderr).toBe(0);
  const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => res.end(`https app saw ${req.method} ${req.url} over TLS`));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

describe.runIf(tools)('web app access', () => {
  let cluster: TestCluster;
  let app: TestApp;
  let agent: PosternProcess;
  let caFile: string;
  let httpsApp: { server: Server; port: number };

  beforeAll(async () => {
    // Password-only logins: this suite signs people in many times, and one-time codes are tested elsewhere.
    const config = join(tempDir(), 'postern.yaml');
    writeFileSync(config, 'auth:\n  second_factor: off\n');
    cluster = await TestCluster.start(['--config', config]);
    caFile = join(tempDir(), 'ca.pem');
    writeFileSync(caFile, (await cluster.ctl(['auth', 'export'])).stdout);
    app = await TestApp.start({ proxyPort: cluster.server.proxyPort, caPem: readFileSync(caFile, 'utf8'), issuer: 'postern.localhost' });
    httpsApp = await selfSignedHttpsApp();
    const dir = tempDir();
    // The agent's config file gives the app a header rewrite with a trait template.
    writeFileSync(
      join(dir, 'agent.yaml'),
      `agent:\n  proxy: ${cluster.proxy}\n  apps:\n    - name: grafana\n      uri: ${app.uri}\n      labels: { env: dev }\n      rewrite:\n        headers: ["X-User: {{internal.username}}", "X-Logins: {{internal.logins}}"]\n` +
        // A TCP app (nothing listens there: the proxy must not even try to reach it over HTTP).
        `    - name: cache\n      uri: tcp://127.0.0.1:9\n      labels: { env: dev }\n` +
        // The same https app with a self-signed certificate, verified (refused) and not.
        `    - name: internal\n      uri: https://localhost:${httpsApp.port}\n      labels: { env: dev }\n` +
        `    - name: internal-unverified\n      uri: https://localhost:${httpsApp.port}\n      labels: { env: dev }\n      insecure_skip_verify: true\n`,
    );
    agent = await cluster.startAgent(['--config', join(dir, 'agent.yaml')], { token: await cluster.token('app') });
    writeFileSync(join(dir, 'prod-only.yaml'), 'kind: role\nversion: v1\nmetadata: { name: prod-only }\nspec:\n  allow:\n    app_labels: { env: prod }\n');
    await cluster.ctl(['create', '-f', join(dir, 'prod-only.yaml')]);
    await cluster.addUser('alice', PASSWORD, 'access', ['--logins=root,ubuntu']);
    await cluster.addUser('bob', PASSWORD, 'prod-only');
  });
  afterAll(async () => {
    await agent?.stop();
    app?.close();
    httpsApp?.server.close();
    await cluster?.stop();
  });

  const appUrl = (path = '/') => `https://grafana.postern.localhost:${cluster.server.proxyPort}${path}`;

  /** A browser-like cookie jar signed in (web session) as a user. */
  async function signedIn(user: string): Promise<string> {
    const jar = join(tempDir(), 'cookies');
    const r = await run('curl', ['-sS', '--cacert', caFile, '-c', jar, '-H', 'content-type: application/json', '--data', JSON.stringify({ user, password: PASSWORD }), cluster.server.url('/webapi/sessions')]);
    expect(r.stdout).toContain(`"username":"${user}"`);
    return jar;
  }

  /** A page load in that jar, following the launch flow's redirects. */
  const browse = (jar: string, url: string, extra: string[] = []) =>
    run('curl', ['-sS', '--cacert', caFile, '-b', jar, '-c', jar, '-L', '-H', 'accept: text/html', '-w', '\n%{http_code} %{num_redirects} %{url_effective}', ...extra, url]);

  it('launches an app for a signed-in user and forwards with a signed assertion the app verifies', async () => {
    const jar = await signedIn('alice');
    const r = await browse(jar, appUrl('/whoami'), ['-H', 'Postern-Jwt-Assertion: forged.token.here', '-H', 'X-Forwarded-For: 6.6.6.6', '-H', 'X-User: mallory']);
    const lines = r.stdout.trim().split('\n');
    expect(lines.at(-1)).toBe(`200 3 ${appUrl('/whoami')}`); // app → launcher → callback → app
    const seen = JSON.parse(lines.slice(0, -1).join('\n')) as { claims: Record<string, unknown>; headers: Record<string, string> };
    expect(seen.claims).toMatchObject({ iss: 'postern.localhost', sub: 'alice', username: 'alice', roles: ['access'], traits: { logins: ['root', 'ubuntu'] }, aud: app.uri });
    expect(Number(seen.claims.exp) - Number(seen.claims.iat)).toBe(300);
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers['x-forwarded-host']).toBe(`grafana.postern.localhost:${cluster.server.proxyPort}`);
    expect(seen.headers['x-user']).toBe('alice');
    expect(seen.headers['x-logins']).toBe('root, ubuntu');
    expect(seen.headers.host).toBe(`127.0.0.1:${app.port}`);
    expect(seen.headers.cookie).toBeUndefined(); // Postern's own cookies never reach the app
    const cookies = readFileSync(jar, 'utf8');
    expect(cookies).toMatch(/grafana\.postern\.localhost\tFALSE\t\/\tTRUE\t\d+\t__Host-postern_app\t/);
    expect(cookies).toContain('app_own'); // the app's own cookies do reach the browser

    const audit = await cluster.ctl(['audit', 'ls', '--format', 'json', '--type', 'app.session.start', '--user', 'alice']);
    expect(JSON.parse(audit.stdout.trim().split('\n')[0]!)).toMatchObject({ event: 'app.session.start', code: 'PA1900I', app: 'grafana' });
  });

  it('rewrites redirects to the app\'s internal address and streams request bodies', async () => {
    const jar = await signedIn('alice');
    await browse(jar, appUrl('/'));
    const redirect = await run('curl', ['-sS', '--cacert', caFile, '-b', jar, '-o', '/dev/null', '-w', '%{redirect_url}', appUrl('/redirect')]);
    expect(redirect.stdout).toBe(appUrl('/landed'));
    const body = randomBytes(8 * 1024 * 1024);
    const file = join(tempDir(), 'body.bin');
    writeFileSync(file, body);
    for (const version of ['--http1.1', '--http2']) {
      const posted = await run('curl', ['-sS', version, '--cacert', caFile, '-b', jar, '-H', 'content-type: application/octet-stream', '--data-binary', `@${file}`, appUrl('/body')]);
      expect(JSON.parse(posted.stdout)).toEqual({ length: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    }
  });

  it("keeps an app's cookies on its own host, and Postern's session out of its reach", async () => {
    const jar = await signedIn('alice');
    await browse(jar, appUrl('/'));
    const before = readFileSync(jar, 'utf8').match(/__Host-postern_app\t(\S+)/)![1]!;
    const r = await run('curl', ['-sS', '--cacert', caFile, '-b', jar, '-c', jar, '-D', '-', '-o', '/dev/null', appUrl('/cookies')]);
    const setCookies = r.stdout.split('\r\n').filter((l) => /^set-cookie:/i.test(l));
    expect(setCookies).toEqual(['set-cookie: planted=1; Path=/', 'set-cookie: app_kept=1; Path=/']);
    const jarNow = readFileSync(jar, 'utf8');
    expect(jarNow).toMatch(/^grafana\.postern\.localhost\tFALSE\t\/\tFALSE\t0\tplanted\t1$/m); // host-only: the other apps never see it
    expect(jarNow).not.toMatch(/^\.?postern\.localhost\t.*planted/m);
    expect(jarNow.match(/__Host-postern_app\t(\S+)/)![1]).toBe(before);
  });

  it('carries WebSockets to the app', async () => {
    const jar = await signedIn('alice');
    await browse(jar, appUrl('/'));
    const session = readFileSync(jar, 'utf8').match(/__Host-postern_app\t(\S+)/)![1]!;
    const ws = new WebSocket(appUrl('/ws').replace('https:', 'wss:'), { ca: readFileSync(caFile), headers: { cookie: `__Host-postern_app=${session}` }, lookup: (await import('../../src/net/localhost.js')).lookup as never });
    const messages: string[] = [];
    ws.on('message', (m) => messages.push(String(m)));
    await once(ws, 'open');
    ws.send('ping over the tunnel');
    await eventually(() => (messages.length >= 2 ? true : undefined), () => `got ${JSON.stringify(messages)}`);
    expect(messages).toEqual(['hello alice', 'echo ping over the tunnel']);
    ws.close();
  });

  it('tells a denied user which rule denied and what to ask for', async () => {
    const jar = await signedIn('bob');
    const r = await browse(jar, appUrl('/'));
    expect(r.stdout).toMatch(/\n403 1 https:\/\/postern\.localhost:\d+\/web\/launch\/grafana\?state=/);
    expect(r.stdout).toContain('You may not open grafana');
    expect(r.stdout).toContain('(labels env=dev): role prod-only needs env=prod');
    expect(r.stdout).toContain('postern ctl access check --user bob --kind app --name grafana');
    const listed = await run('curl', ['-sS', '--cacert', caFile, '-b', jar, cluster.server.url('/webapi/apps')]);
    expect(JSON.parse(listed.stdout)).toEqual({ apps: [] });
  });

  it('sends a browser back through login when its session has ended, and scripts get a 401', async () => {
    const jar = await signedIn('alice');
    await browse(jar, appUrl('/'));
    const sessions = JSON.parse((await cluster.ctl(['get', 'sessions', '--format', 'json'])).stdout) as { id: string; user: string }[];
    for (const s of sessions.filter((x) => x.user === 'alice')) await cluster.ctl(['rm', 'session', s.id]);
    await new Promise((r) => setTimeout(r, 2100)); // app sessions are re-checked every 2 s
    const r = await browse(jar, appUrl('/whoami?after=logout'));
    expect(r.stdout.trim().split('\n').at(-1)).toMatch(/^200 \d+ https:\/\/postern\.localhost:\d+\/web\?next=%2Fweb%2Flaunch%2Fgrafana%3Fstate%3D/);
    const script = await run('curl', ['-sS', '--cacert', caFile, '-b', jar, '-w', '\n%{http_code}', appUrl('/api/data')]);
    expect(script.stdout).toMatch(/"code":"UNAUTHENTICATED".*open it in a browser[\s\S]*\n401$/);
  });

  it('gives apps login certificates that curl uses, and proxy app a local listener', async () => {
    const alice: Person = cluster.person();
    expect((await alice.login('alice', PASSWORD, '')).code).toBe(0);
    const listed = await alice.run(['apps', 'ls']);
    expect(listed.stdout).toMatch(new RegExp(`grafana\\s+http\\s+https://grafana\\.postern\\.localhost:${cluster.server.proxyPort}\\s+env=dev`));
    const login = await alice.run(['apps', 'login', 'grafana', '--format', 'json']);
    const files = JSON.parse(login.stdout) as { certFile: string; keyFile: string; ca_file: string };
    const viaCert = await run('curl', ['-sS', '--cert', files.certFile, '--key', files.keyFile, '--cacert', files.ca_file, '-H', 'Postern-Jwt-Assertion: forged', appUrl('/whoami')]);
    expect((JSON.parse(viaCert.stdout) as { claims: { username: string } }).claims.username).toBe('alice');
    // That certificate is for grafana only: not a login for the proxy's API (nor CONNECT, which asks the same) or other certificates.
    const certArgs = ['-sS', '--cert', files.certFile, '--key', files.keyFile, '--cacert', files.ca_file, '-w', '\n%{http_code}'];
    for (const extra of [[cluster.server.url('/webapi/nodes')], ['-X', 'POST', '-d', '{}', cluster.server.url('/webapi/apps/grafana/certificate')]]) {
      const refused = await run('curl', [...certArgs, ...extra]);
      expect(refused.stdout).toMatch(/this certificate is only for app \\"grafana\\"; use your login certificate[^]*\n403$/);
    }

    const port = await freePort();
    const local = spawn(process.execPath, [CLI, 'proxy', 'app', 'grafana', '--port', String(port)], { env: { ...process.env, POSTERN_HOME: alice.home } });
    try {
      let out = '';
      local.stdout.on('data', (d: Buffer) => (out += d));
      await eventually(() => (out.includes('Proxying') ? true : undefined), () => out);
      const viaLocal = await run('curl', ['-sS', `http://127.0.0.1:${port}/whoami`]);
      expect((JSON.parse(viaLocal.stdout) as { claims: { username: string } }).claims.username).toBe('alice');
    } finally {
      local.kill();
    }
  });

  it('tells a browser that opens a TCP app how to connect to it instead', async () => {
    const jar = await signedIn('alice');
    const r = await browse(jar, `https://cache.postern.localhost:${cluster.server.proxyPort}/`);
    expect(r.stdout).toContain('cache is a TCP app');
    expect(r.stdout).toContain('postern proxy app cache --port PORT');
    expect(r.stdout.trim().split('\n').at(-1)).toMatch(/^400 /);
  });

  it('reaches https apps over TLS, and says how to accept a self-signed one', async () => {
    const jar = await signedIn('alice');
    const refused = await browse(jar, `https://internal.postern.localhost:${cluster.server.proxyPort}/`);
    expect(refused.stdout.trim().split('\n').at(-1)).toMatch(/^502 /);
    expect(refused.stdout).toContain('certificate is not trusted');
    expect(refused.stdout).toContain('insecure_skip_verify: true');
    const accepted = await browse(jar, `https://internal-unverified.postern.localhost:${cluster.server.proxyPort}/hello`);
    expect(accepted.stdout).toContain('https app saw GET /hello over TLS');
    expect(accepted.stdout.trim().split('\n').at(-1)).toMatch(/^200 /);
  });

  it('shows an offline page, not a bare 502, when the app\'s agent is gone', async () => {
    const alice: Person = cluster.person();
    expect((await alice.login('alice', PASSWORD, '')).code).toBe(0);
    const jar = await signedIn('alice');
    await browse(jar, appUrl('/'));
    await agent.stop();
    await eventually(async () => (JSON.parse((await run('curl', ['-sS', '--cacert', caFile, '-b', jar, cluster.server.url('/webapi/apps')])).stdout) as { apps: [] }).apps.length === 0 || undefined, () => 'still listed');
    const r = await run('curl', ['-sS', '--cacert', caFile, '-b', jar, '-H', 'accept: text/html', '-w', '\n%{http_code}', appUrl('/')]);
    expect(r.stdout).toMatch(/grafana is offline[\s\S]*agent for grafana is offline[\s\S]*\n503$/);
    // A name no agent ever announced is not "offline": it does not exist.
    const unknown = await run('curl', ['-sS', '-L', '--cacert', caFile, '-b', jar, '-H', 'accept: text/html', '-w', '\n%{http_code}', appUrl('/').replace('grafana.', 'nosuch.')]);
    expect(unknown.stdout).toMatch(/There is no app named nosuch[\s\S]*\n404$/);
    // The CLI tells the two apart too.
    const offline = await alice.run(['apps', 'login', 'grafana']);
    expect(offline.code).toBe(69);
    expect(offline.stderr).toContain('agent for app "grafana" is offline');
    const missing = await alice.run(['apps', 'login', 'nosuch']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('postern: there is no app "nosuch"; `postern apps ls` lists the apps you may open\n');
  });

  it('makes users without a one-time code app when the running cluster asks for none', async () => {
    // ctl on the server host has no config here: it learns auth.second_factor from the running server.
    const added = await cluster.ctl(['users', 'add', 'carol', '--roles=access', '--password-stdin'], PASSWORD);
    expect(added.stdout).toBe('User carol added with roles access.\nPassword set.\n');
  });

  it('serves the JWKS without authentication', async () => {
    const r = await run('curl', ['-sS', '--cacert', caFile, cluster.server.url('/.well-known/jwks.json')]);
    expect(JSON.parse(r.stdout)).toEqual({ keys: [{ kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String), kid: expect.any(String), alg: 'ES256', use: 'sig' }] });
  });
});
