import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { haveChromium } from '../harness/browser.js';
import { eventually } from '../harness/eventually.js';
import { Sshd } from '../harness/sshd.js';
import { BrowserSession } from '../helpers/browser-session.js';
import { TestCluster } from '../helpers/cluster.js';
import { haveProgram } from '../helpers/programs.js';
import { posternNode } from '../helpers/ssh-node.js';
import { directEchoLatency, p50, pageEchoLatency } from '../helpers/ssh-echo.js';
import { tempDir, type PosternProcess } from '../helpers/postern.js';

const ready = haveChromium() && haveProgram('/usr/sbin/sshd', ['-V']);
const PASSWORD = 'correct horse battery staple';

interface AuditRecord {
  event: string;
  user?: string;
  login?: string;
  node?: string;
  client?: string;
  reason?: string;
  reasons?: string[];
  kind?: string;
  resource?: string;
}

/**
 * The browser terminal (/web/terminal, over the /webapi/terminal WebSocket) in real headless
 * Chromium, against a real sshd behind an agent: the proxy signs in with a certificate it makes
 * for the node and login, through the same access pipeline as `postern ssh`.
 */
describe.runIf(ready)('web terminal: SSH to a node in the browser', () => {
  let cluster: TestCluster;
  let agent: PosternProcess;
  let web1: Sshd;
  let browser: BrowserSession;
  let origin: string;
  let userCount = 0;
  const shots = tempDir('postern-terminal-shots-');

  beforeAll(async () => {
    cluster = await TestCluster.start();
    web1 = await posternNode(cluster, 'web-1');
    // web-8 and web-9 lead to web-1's sshd too: impostors, whose names the cluster signed no key for
    // (web-8) or another key (web-9).
    const impostor = (name: string) => ['--ssh', `name=${name},addr=127.0.0.1:${web1.port},labels=env=dev`];
    agent = await cluster.startAgent(['--ssh', `name=web-1,addr=127.0.0.1:${web1.port},labels=env=dev`, ...impostor('web-8'), ...impostor('web-9')], { token: await cluster.token('ssh') });
    const otherKey = join(tempDir('postern-other-key-'), 'key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
    const signed = await cluster.ctl(['auth', 'sign-host', '--host=web-9', `--key=${otherKey}.pub`, `--out=${otherKey}-cert.pub`]);
    if (signed.code !== 0) throw new Error(signed.stderr);
    const dir = tempDir('postern-roles-');
    writeFileSync(join(dir, 'roles.yaml'), 'kind: role\nversion: v1\nmetadata: { name: dev-root }\nspec:\n  allow:\n    logins: [root]\n    node_labels: { env: dev }\n');
    const created = await cluster.ctl(['create', '-f', join(dir, 'roles.yaml')]);
    if (created.code !== 0) throw new Error(created.stderr);
    await eventually(
      async () => ((await cluster.ctl(['get', 'nodes', '--format', 'json'])).stdout.includes('web-1') ? true : undefined),
      () => 'the agent never announced web-1',
      10_000,
    );
    browser = await BrowserSession.launch(cluster);
    origin = browser.origin;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    await web1?.stop();
    await cluster?.stop();
    console.log(`web terminal screenshots: ${shots}`);
  });

  afterEach(async () => {
    expect((await browser.settle()).problems).toEqual([]);
  });

  async function newUser(): Promise<{ name: string; secret: string }> {
    const name = `tuser${++userCount}`;
    return { name, secret: await cluster.addUser(name, PASSWORD, 'dev-root') };
  }

  /** A fresh browser profile, signed in as `user`, on the terminal page for login@node. */
  function openTerminal(user: { name: string; secret: string }, node: string, login: string, viewport = { width: 1100, height: 800 }): Promise<Page> {
    return browser.signedIn({ name: user.name, password: PASSWORD, secret: user.secret }, `/web/terminal?node=${node}&login=${login}`, {
      context: { viewport, permissions: ['clipboard-read', 'clipboard-write'] },
      ready: (page) => page.getByTestId('terminal'),
    });
  }

  const status = (page: Page) => page.getByTestId('terminal-status').innerText();
  const screen = (page: Page) => page.locator('[data-testid="terminal"] .xterm-rows').innerText();

  /** Types a command line into the terminal. */
  async function typeLine(page: Page, line: string): Promise<void> {
    await page.locator('[data-testid="terminal"] .xterm-helper-textarea').focus();
    await page.keyboard.type(line);
    await page.keyboard.press('Enter');
  }

  async function audit(type: string, user: string): Promise<AuditRecord[]> {
    const r = await cluster.ctl(['audit', 'ls', '--format', 'json', '--type', type, '--user', user]);
    return r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditRecord);
  }

  it('runs a shell on the node: echo, copy, resize to a 390 px screen, paste, exit; audited as an SSH session', async () => {
    const user = await newUser();
    const page = await openTerminal(user, 'web-1', 'root');
    await expect.poll(() => status(page)).toBe('Connected');
    await typeLine(page, 'echo postern-$((40+2))');
    await expect.poll(() => screen(page), { timeout: 10_000 }).toMatch(/^postern-42$/m);
    await page.screenshot({ path: join(shots, 'terminal-desktop.png') });

    // Copy: a double-click selects the word in the terminal, and Copy puts it on the clipboard.
    const row = (await page.locator('[data-testid="terminal"] .xterm-rows > div', { hasText: /^postern-42$/ }).boundingBox())!;
    await page.mouse.dblclick(row.x + 20, row.y + row.height / 2); // the xterm's own layer takes the pointer
    await page.getByRole('button', { name: 'Copy' }).click();
    await expect.poll(() => page.evaluate<string>('navigator.clipboard.readText()')).toBe('postern-42');

    // The PTY follows the window: on a phone-sized screen the shell sees fewer columns.
    await typeLine(page, 'stty size');
    const wide = Number((await eventually(async () => /^\d+ (\d+)$/m.exec(await screen(page)) ?? undefined, () => 'no stty size output'))[1]);
    await page.setViewportSize({ width: 390, height: 780 });
    await typeLine(page, 'clear; stty size');
    await expect.poll(async () => Number(/^\d+ (\d+)$/m.exec(await screen(page))?.[1] ?? wide)).toBeLessThan(Math.min(wide, 60));
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);

    // Paste: the clipboard's text goes to the shell as typed input.
    await page.evaluate("navigator.clipboard.writeText('echo pasted-$((6*7))')");
    await page.getByRole('button', { name: 'Paste' }).click();
    await expect.poll(() => screen(page), { timeout: 10_000 }).toContain('echo pasted-$((6*7))');
    await typeLine(page, '');
    await expect.poll(() => screen(page), { timeout: 10_000 }).toMatch(/^pasted-42$/m);
    await page.screenshot({ path: join(shots, 'terminal-390px.png') });

    await typeLine(page, 'exit');
    await expect.poll(() => status(page)).toBe('Closed: the session ended');
    const start = await eventually(async () => (await audit('ssh.session.start', user.name))[0], () => 'no ssh.session.start');
    expect(start).toMatchObject({ login: 'root', node: 'web-1', client: 'web-terminal' });
    const end = await eventually(async () => (await audit('ssh.session.end', user.name))[0], () => 'no ssh.session.end');
    expect(end).toMatchObject({ login: 'root', node: 'web-1', reason: 'ended' });
  });

  it('draws 10 MB of output and stays responsive (times reported, not asserted)', async () => {
    const page = await openTerminal(await newUser(), 'web-1', 'root');
    await expect.poll(() => status(page)).toBe('Connected');
    // The page's longest pause between timer ticks while the output is drawn: a frozen page would show seconds.
    await page.evaluate("window.__gap = 0; window.__last = performance.now(); setInterval(() => { const now = performance.now(); window.__gap = Math.max(window.__gap, now - window.__last); window.__last = now; }, 10)");
    const t0 = Date.now();
    await typeLine(page, 'seq 1 1500000; echo cat-$((20+3))-done');
    await expect.poll(() => screen(page), { timeout: 60_000 }).toMatch(/^cat-23-done$/m);
    const ms = Date.now() - t0;
    const gap = await page.evaluate<number>('window.__gap');
    console.log(`web terminal: 10.9 MB of seq output drawn in ${ms} ms; the page's longest pause ${gap.toFixed(0)} ms`);
    await typeLine(page, 'echo still-$((1+1))');
    await expect.poll(() => screen(page), { timeout: 10_000 }).toMatch(/^still-2$/m);
    await typeLine(page, 'exit');
    await expect.poll(() => status(page)).toBe('Closed: the session ended');
  }, 90_000);

  it('closes the terminal when the user is locked, and says why', async () => {
    const user = await newUser();
    const page = await openTerminal(user, 'web-1', 'root');
    await expect.poll(() => status(page)).toBe('Connected');
    const locked = Date.now();
    expect((await cluster.ctl(['lock', '--user', user.name, '--message', 'incident 7'])).code).toBe(0);
    await expect.poll(() => status(page), { timeout: 5000, interval: 20 }).toMatch(/^Closed: access was revoked: .*locked: incident 7/);
    console.log(`web terminal: closed ${Date.now() - locked} ms after the lock command returned`);
    await page.screenshot({ path: join(shots, 'terminal-locked.png') });
    const end = await eventually(async () => (await audit('ssh.session.end', user.name))[0], () => 'no ssh.session.end');
    expect(end.reason).toMatch(/^revoked: .*incident 7/);
    expect(await page.getByRole('button', { name: 'Reconnect' }).count()).toBe(1);
  });

  it('refuses a login the roles do not allow, with the reasons and the logins that are allowed', async () => {
    const user = await newUser();
    const page = await openTerminal(user, 'web-1', 'ubuntu');
    await expect.poll(() => status(page)).toMatch(/^Closed: .* may not log in to web-1 as ubuntu: .*; you may log in to web-1 as: root$/);
    await page.screenshot({ path: join(shots, 'terminal-refused.png') });
    expect(await page.getByRole('button', { name: 'Reconnect' }).count()).toBe(0);
    const denied = await eventually(async () => (await audit('access.denied', user.name)).find((e) => e.login === 'ubuntu'), () => 'no access.denied');
    expect(denied).toMatchObject({ kind: 'node', resource: 'web-1', login: 'ubuntu' });
    expect(await audit('ssh.session.start', user.name)).toEqual([]);

    const unknown = await openTerminal(await newUser(), 'no-such-node', 'root');
    await expect.poll(() => status(unknown)).toMatch(/^Closed: there is no node "no-such-node"/);
  });

  it("checks the node's host key against the keys the cluster signed for it, before signing in", async () => {
    const user = await newUser();
    const unsigned = await openTerminal(user, 'web-8', 'root');
    await expect.poll(() => status(unsigned)).toMatch(/^Closed: the cluster has signed no host key for web-8, .*postern ctl auth sign-host --host=web-8/);
    const wrong = await openTerminal(user, 'web-9', 'root');
    await expect.poll(() => status(wrong)).toMatch(/^Closed: web-9's host key is not one the cluster signed for web-9: the connection was closed before signing in/);
    // Both are in the audit log as sessions that failed, with why.
    const failed = async (node: string) => (await audit('ssh.session.end', user.name)).find((e) => e.node === node)?.reason;
    await expect.poll(() => failed('web-8')).toMatch(/^failed: the cluster has signed no host key for web-8/);
    await expect.poll(() => failed('web-9')).toMatch(/^failed: web-9's host key is not one the cluster signed/);
    await wrong.screenshot({ path: join(shots, 'terminal-host-key.png') });
    expect(await wrong.getByRole('button', { name: 'Reconnect' }).count()).toBe(1);
  });

  it('refuses the WebSocket without a session, or from a page of another origin', async () => {
    const user = await newUser();
    const page = await openTerminal(user, 'web-1', 'root');
    await expect.poll(() => status(page)).toBe('Connected');
    const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const ca = (await cluster.ctl(['auth', 'export'])).stdout;
    /** The HTTP status the upgrade was answered with (101 when it went through). */
    const upgrade = async (headers: Record<string, string>): Promise<number> => {
      const ws = new WebSocket(`wss://127.0.0.1:${cluster.server.proxyPort}/webapi/terminal?node=web-1&login=root`, {
        headers: { host: `postern.localhost:${cluster.server.proxyPort}`, ...headers },
        servername: 'postern.localhost',
        ca,
      } as WebSocket.ClientOptions);
      const [first] = (await Promise.race([once(ws, 'upgrade'), once(ws, 'unexpected-response').then(([, res]) => [res])])) as [{ statusCode: number }];
      ws.terminate();
      return first.statusCode;
    };
    expect(await upgrade({ origin })).toBe(401);
    expect(await upgrade({ origin: 'https://evil.example', cookie })).toBe(403);
    expect(await upgrade({ cookie })).toBe(403); // no Origin: not from a page of this proxy
    expect(await upgrade({ origin, cookie })).toBe(101);
  });

  it('measures keystroke echo through the browser terminal against direct ssh (reported, not asserted)', async () => {
    const direct = await Sshd.start();
    try {
      const directMs = await directEchoLatency(direct);
      const user = await newUser();
      const page = await openTerminal(user, 'web-1', 'root');
      await expect.poll(() => status(page)).toBe('Connected');
      const browserMs = await page.evaluate<number[]>(pageEchoLatency("new WebSocket(Object.assign(new URL('/webapi/terminal?node=web-1&login=root', location.href), { protocol: 'wss:' }))"));
      console.log(`keystroke echo p50: browser terminal ${p50(browserMs).toFixed(2)} ms, direct ssh ${p50(directMs).toFixed(2)} ms (200 keystrokes each, loopback)`);
    } finally {
      await direct.stop();
    }
  });
});

