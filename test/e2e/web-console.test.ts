import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { haveChromium } from '../harness/browser.js';
import { eventually } from '../harness/eventually.js';
import { freePort } from '../harness/ports.js';
import { BrowserSession } from '../helpers/browser-session.js';
import { TestCluster, type Person } from '../helpers/cluster.js';
import { CLI, tempDir } from '../helpers/postern.js';

const browserReady = haveChromium();
const PASSWORD = 'correct horse battery staple';
const ROUTE = 'echo.example.com:7';

/**
 * The web console's Audit log and Active sessions pages in headless Chromium against a real
 * cluster: a TCP route to an echo server gives a session to list and end.
 */
describe.runIf(browserReady)('web console: audit log and active sessions', () => {
  let cluster: TestCluster;
  let browser: BrowserSession;
  let origin: string;
  let alice: Person;
  const shots = tempDir('postern-console-shots-');
  const echo = createServer((s) => s.pipe(s));

  beforeAll(async () => {
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    const file = join(tempDir(), 'postern.yaml');
    writeFileSync(
      file,
      `auth:
  second_factor: off
proxy:
  routes:
    - from: tcp+https://${ROUTE}
      to: tcp://127.0.0.1:${(echo.address() as { port: number }).port}
      policy: [{ allow: { and: [{ authenticated_user: true }] } }]
`,
    );
    cluster = await TestCluster.start(['--config', file]);
    await cluster.addUser('ada', PASSWORD, 'editor,access');
    await cluster.addUser('audrey', PASSWORD, 'auditor');
    await cluster.addUser('paul', PASSWORD, 'access');
    await cluster.addUser('alice', PASSWORD, 'access');
    alice = cluster.person();
    expect((await alice.login('alice', PASSWORD, '')).code).toBe(0);
    browser = await BrowserSession.launch(cluster);
    origin = browser.origin;
    console.log(`web console screenshots: ${shots}`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
    echo.close();
  });

  afterEach(async () => {
    expect((await browser.settle()).problems).toEqual([]);
  });

  /** A fresh browser profile, signed in as `user`, on `path`. */
  const signedIn = (user: string, path: string) => browser.signedIn({ name: user, password: PASSWORD }, path);

  /** The audit rows' event types, as shown (newest first). */
  const shownEvents = (page: Page) => page.locator('tr[data-event]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event')));

  it('shows audit events newest first, filters them by type, user and time, follows new ones live, and shows an event on click', async () => {
    const page = await signedIn('audrey', '/web/audit');
    await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
    expect(await page.title()).toMatch(/^Audit log · /);
    // Her own sign-in is the newest event, and the users made for this suite are further down.
    await expect.poll(() => shownEvents(page)).toContain('user.create');
    const indexes = await page.locator('tr[data-event]').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-index'))));
    expect(indexes).toEqual([...indexes].sort((a, b) => b - a));
    await page.screenshot({ path: join(shots, 'audit-log.png'), fullPage: true });

    await page.getByLabel('Event type').selectOption('user.login');
    await page.getByLabel('User', { exact: true }).fill('audrey');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => shownEvents(page)).toEqual(['user.login']);

    // Live: alice logs in from the CLI while the page follows user.login for anyone.
    await page.getByLabel('User', { exact: true }).fill('');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => page.getByTestId('follow-status').innerText()).toMatch(/^Following new events/);
    // The list has reloaded for the wider filter once it shows every user.login the log holds.
    const logins = (await cluster.ctl(['audit', 'ls', '--type', 'user.login', '--format', 'json'])).stdout.trim().split('\n').length;
    await expect.poll(() => shownEvents(page).then((e) => e.length)).toBe(logins);
    const before = logins;
    expect((await alice.login('alice', PASSWORD, '')).code).toBe(0);
    const newest = page.locator('tr[data-event]').first();
    await expect.poll(() => page.locator('tr[data-event]').count(), { timeout: 6000 }).toBe(before + 1);
    expect(await newest.innerText()).toContain('alice');
    expect(await newest.getAttribute('class')).toContain('fresh');

    // Its fields, on click.
    await newest.click();
    const toggle = newest.getByRole('button');
    expect(await toggle.getAttribute('aria-expanded')).toBe('true');
    const fields = page.locator(`#${await toggle.getAttribute('aria-controls')}`);
    const text = await fields.innerText();
    expect(text).toMatch(/event\s+user\.login/);
    expect(text).toMatch(/code\s+PA1000I/);
    expect(text).toMatch(/user\s+alice/);
    expect(text).toMatch(/uid\s+[0-9a-f-]{36}/);
    await page.screenshot({ path: join(shots, 'audit-log-event.png'), fullPage: true });
    await toggle.click();
    expect(await fields.count()).toBe(0);

    // A time range that starts later than any event: the empty state.
    await page.getByLabel('Since').fill('2999-01-01T00:00');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByRole('heading', { name: 'No events' }).waitFor();
    // One that ended before the suite started: nothing, and nothing to follow.
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.getByLabel('Until').fill('2001-01-01T00:00');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByRole('heading', { name: 'No events' }).waitFor();
    expect(await page.getByTestId('follow-status').innerText()).toContain('not followed');
  });

  it('pages back with Load older', async () => {
    // 130 refused admin calls by paul: each is an access.denied event of his.
    const paul = await signedIn('paul', '/web');
    const statuses = await paul.evaluate(async () => {
      const codes: number[] = [];
      for (let i = 0; i < 130; i++) {
        const r = await fetch('/webapi/admin/users.ls', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        codes.push(r.status);
      }
      return codes;
    });
    expect(new Set(statuses)).toEqual(new Set([403]));

    const page = await signedIn('audrey', '/web/audit');
    await page.getByLabel('Event type').selectOption('access.denied');
    await page.getByLabel('User', { exact: true }).fill('paul');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => page.locator('tr[data-event]').count()).toBe(100);
    await page.getByRole('button', { name: 'Load older' }).click();
    await expect.poll(() => page.locator('tr[data-event]').count()).toBe(130);
    expect(await page.getByRole('button', { name: 'Load older' }).count()).toBe(0);
    const indexes = await page.locator('tr[data-event]').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-index'))));
    expect(new Set(indexes).size).toBe(130);
    expect(indexes).toEqual([...indexes].sort((a, b) => b - a));
  });

  it('tells a user without the rights which role grants them, on both pages', async () => {
    const page = await signedIn('paul', '/web/audit');
    const audit = page.getByTestId('audit-denied');
    await audit.waitFor();
    expect(await audit.innerText()).toMatch(/You may not read the audit log[\s\S]*list on audit[\s\S]*auditor[\s\S]*editor[\s\S]*ACCESS_DENIED/);
    // No link to the console pages for paul; the address still answers, with the refusal.
    expect(await page.getByRole('navigation', { name: 'Pages' }).count()).toBe(0);
    await page.goto(`${origin}/web/sessions`);
    const sessions = page.getByTestId('sessions-denied');
    await sessions.waitFor();
    expect(await sessions.innerText()).toMatch(/list on session[\s\S]*auditor[\s\S]*editor/);
    await page.screenshot({ path: join(shots, 'audit-denied.png'), fullPage: true });
  });

  it('lists an open TCP route session with user, resource and bytes, and End session closes it within a second with an audit event naming the administrator', async () => {
    // alice's tunnel: `postern tcp` listening locally, one connection through it to the echo server.
    const port = await freePort();
    const tcp = spawn(process.execPath, [CLI, 'tcp', ROUTE, '--listen', `127.0.0.1:${port}`], { env: { ...process.env, POSTERN_HOME: alice.home } });
    let err = '';
    tcp.stderr.on('data', (d: Buffer) => (err += d));
    try {
      await eventually(() => (err.includes('Listening') ? true : undefined), () => err);
      const socket: Socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write('hello, echo');
      await once(socket, 'data');

      // An auditor sees it, without the End button.
      const auditor = await signedIn('audrey', '/web/sessions');
      const seen = auditor.locator(`tr[data-user="alice"][data-resource="${ROUTE}"]`);
      await seen.waitFor();
      expect(await seen.getByRole('button').count()).toBe(0);

      const page = await signedIn('ada', '/web/sessions');
      await page.getByRole('heading', { name: 'Active sessions', level: 1 }).waitFor();
      expect(await page.getByText(/Each proxy process lists only the sessions it carries/).count()).toBe(1);
      const row = page.locator(`tr[data-user="alice"][data-resource="${ROUTE}"]`);
      await row.waitFor();
      expect(Number(await row.getAttribute('data-bytes-up'))).toBeGreaterThanOrEqual(11);
      expect(Number(await row.getAttribute('data-bytes-down'))).toBeGreaterThanOrEqual(11);
      expect(await row.innerText()).toMatch(/alice[\s\S]*TCP route[\s\S]*echo\.example\.com:7[\s\S]*127\.0\.0\.1[\s\S]*11 B \/ 11 B/);
      await page.screenshot({ path: join(shots, 'active-sessions.png'), fullPage: true });

      // Cut off, the local end is reset or closed: either way it closes (once() would reject on the reset).
      const closed = new Promise((resolve) => socket.once('close', resolve));
      const clicked = Date.now();
      await row.getByRole('button', { name: `End alice's session to ${ROUTE}` }).click();
      await closed;
      expect(Date.now() - clicked).toBeLessThan(1000);
      await expect.poll(() => page.getByRole('status').filter({ hasText: 'Ended' }).innerText()).toBe(`Ended alice's session to ${ROUTE}.`);
      await page.getByRole('heading', { name: 'No open sessions' }).waitFor();
      await page.screenshot({ path: join(shots, 'active-sessions-ended.png'), fullPage: true });

      const audit = async (type: string) => {
        const r = await cluster.ctl(['audit', 'ls', '--format', 'json', '--type', type]);
        return r.stdout.trim() ? r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) : [];
      };
      const ended = await eventually(async () => (await audit('active.session.end')).at(-1), () => 'no active.session.end event');
      expect(ended).toMatchObject({ user: 'ada', target: 'alice', kind: 'route', resource: ROUTE, code: 'PA2300I', session_id: expect.any(String) });
      const tunnelEnd = await eventually(async () => (await audit('route.tunnel.end')).find((e) => e.user === 'alice'), () => 'no route.tunnel.end event');
      expect(tunnelEnd).toMatchObject({ reason: 'revoked: ended by an administrator (ada)' });
      // Ending it again: it is gone.
      const again = await page.evaluate(async (id) => (await fetch(`/webapi/console/sessions/${id}`, { method: 'DELETE' })).status, ended.session_id as string);
      expect(again).toBe(404);
    } finally {
      tcp.kill();
    }
  });
});
