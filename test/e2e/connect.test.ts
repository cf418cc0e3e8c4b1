import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launchChromium } from '../harness/browser.js';
import { freePort } from '../harness/ports.js';
import { TestCluster, type Person } from '../helpers/cluster.js';
import { CLI, tempDir, type PosternProcess } from '../helpers/postern.js';

const PASSWORD = 'connect page password';

/** A raw request to the daemon: what a page of another site, or a program without the cookie, could send. */
function call(port: number, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...headers, ...(text ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) } : {}) } }, (res) => {
      let data = '';
      res.on('data', (d: Buffer) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

/**
 * `postern connect`: the daemon on loopback, its launch link, and its page in real Chromium
 * against a real cluster and agent: add the cluster by address and pin, log in (the CLI sees the
 * same profile), see the resources; and requests without the launch's cookie, from another
 * origin or by another host name, refused.
 */
describe.runIf(haveChromium())('Postern Connect', () => {
  let cluster: TestCluster;
  let agent: PosternProcess;
  let person: Person;
  let daemon: ChildProcess;
  let url: URL;
  let secret: string;
  const shots = tempDir('postern-connect-shots-');

  beforeAll(async () => {
    cluster = await TestCluster.start();
    agent = await cluster.startAgent(['--app', `name=wiki,uri=http://127.0.0.1:${await freePort()},labels=env=dev`, '--ssh', 'name=web-1,addr=127.0.0.1:22,labels=env=dev'], { token: await cluster.token('app,ssh') });
    secret = await cluster.addUser('connie', PASSWORD, 'access', ['--logins=root']);
    person = cluster.person();
    daemon = spawn(process.execPath, [CLI, 'connect', '--no-browser'], { env: { ...process.env, POSTERN_HOME: person.home }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    daemon.stdout!.on('data', (d: Buffer) => (out += d));
    await new Promise<void>((resolve, reject) => {
      daemon.stdout!.on('data', () => /http:\/\/127\.0\.0\.1:\d+\/web\/connect#token=\S+/.test(out) && resolve());
      daemon.once('exit', (code) => reject(new Error(`postern connect exited (${code}): ${out}`)));
    });
    url = new URL(/http:\/\/127\.0\.0\.1:\d+\/web\/connect#token=\S+/.exec(out)![0]);
  }, 60_000);

  afterAll(async () => {
    daemon?.kill('SIGINT');
    if (daemon && daemon.exitCode === null) await once(daemon, 'exit');
    await agent?.stop();
    await cluster?.stop();
    console.log(`Connect screenshots: ${shots}`);
  });

  it('refuses requests without the launch cookie, from another origin, or by another host name', async () => {
    const port = Number(url.port);
    const origin = `http://127.0.0.1:${port}`;
    const host = `127.0.0.1:${port}`;
    const token = new URLSearchParams(url.hash.slice(1)).get('token')!;
    expect((await call(port, 'GET', '/api/clusters', { host })).status).toBe(401);
    // A wrong token, a page of another site, a rebinding name, a script without an Origin: all refused.
    expect((await call(port, 'POST', '/api/session', { host, origin }, { token: 'x'.repeat(token.length) })).status).toBe(401);
    expect((await call(port, 'POST', '/api/session', { host, origin: 'https://evil.example' }, { token })).status).toBe(403);
    expect((await call(port, 'POST', '/api/session', { host: `evil.example:${port}`, origin: `http://evil.example:${port}` }, { token })).status).toBe(403);
    expect((await call(port, 'POST', '/api/session', { host }, { token })).status).toBe(403);
    const ok = await call(port, 'POST', '/api/session', { host, origin }, { token });
    expect(ok.status).toBe(200);
    const setCookie = String((ok.headers['set-cookie'] as string[])[0]);
    expect(setCookie).toMatch(/^postern_connect=[\w-]{43}; HttpOnly; SameSite=Strict; Path=\/$/);
    const cookie = setCookie.split(';')[0]!;
    expect((await call(port, 'GET', '/api/clusters', { host, cookie })).status).toBe(200);
    expect((await call(port, 'GET', '/api/clusters', { host, cookie, origin: 'https://evil.example' })).status).toBe(403);
    const refused = await call(port, 'POST', '/api/clusters', { host, cookie, origin: 'https://evil.example' }, { proxy: cluster.proxy });
    expect(JSON.parse(refused.body).error.code).toBe('ORIGIN_REFUSED');
  });

  it('adds the cluster by address and pin, logs in (the CLI shares the profile), and lists the resources', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const started = Date.now();
      await page.goto(url.toString());
      await page.getByRole('heading', { name: 'Add a cluster' }).waitFor();
      console.log(`Connect: launch link to a usable page in ${Date.now() - started} ms`);
      expect(page.url()).not.toContain('token='); // dropped from the address bar once traded
      await page.screenshot({ path: join(shots, '1-add-cluster.png') });

      // A wrong pin is refused before anything is kept.
      await page.getByLabel('Proxy address').fill(cluster.proxy);
      await page.getByLabel('CA pin').fill(`sha256:${'0'.repeat(64)}`);
      await page.getByRole('button', { name: 'Add', exact: true }).click();
      await expect.poll(() => page.getByRole('alert').innerText()).toMatch(/serves a host CA with pin sha256:[0-9a-f]{64}, not the sha256:0{64} you gave/);
      await page.getByLabel('CA pin').fill(cluster.pin);
      await page.getByRole('button', { name: 'Add', exact: true }).click();
      await page.getByRole('heading', { name: `Log in to ${cluster.proxy}` }).waitFor();

      await page.getByLabel('User').fill('connie');
      await page.getByLabel('Password').fill('wrong password');
      await page.getByLabel('One-time code').fill(await cluster.freshCode(secret));
      await page.getByRole('button', { name: 'Log in' }).click();
      await expect.poll(() => page.getByRole('alert').innerText()).toMatch(/Login failed/);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByLabel('One-time code').fill(await cluster.freshCode(secret));
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('heading', { name: 'Resources' }).waitFor();
      await expect.poll(() => page.locator('.app-list .app-name').allInnerTexts()).toEqual(['web-1', 'wiki']);
      expect(await page.getByRole('link', { name: 'Launch wiki' }).getAttribute('href')).toBe(`https://${cluster.proxy}/web/launch/wiki`);
      await page.screenshot({ path: join(shots, '2-resources.png') });

      // Logged in here, logged in for the CLI: the same profile store.
      const status = await person.run(['status']);
      expect(status.stdout).toContain('connie');
      expect((await person.run(['ls'])).stdout).toContain('web-1');

      // Logging out here logs the CLI out; the cluster stays listed, to log in again.
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.getByRole('heading', { name: `Log in to ${cluster.proxy}` }).waitFor();
      expect((await person.run(['ls'])).code).not.toBe(0);
    } finally {
      await browser.close();
    }
  });
});
