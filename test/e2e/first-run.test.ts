import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCode, totpStep } from '../../src/auth/totp.js';
import { haveChromium, launchChromium } from '../harness/browser.js';
import { freePort } from '../harness/ports.js';
import { haveProgram } from '../helpers/programs.js';
import { PosternProcess, postern, tempDir } from '../helpers/postern.js';

const tools = haveChromium() && haveProgram('certutil', ['-H']);
/** Screenshots of each page, for people to look at (not compared). */
const SHOTS = join(tempDir('postern-first-run-shots-'));

/**
 * A newcomer's first minutes, as the README tells them: `postern start --demo`, `postern trust`
 * with the pin the banner printed, the first administrator's link from the banner, then Launch.
 * Chromium trusts the cluster only through the NSS database `postern trust` wrote.
 */
describe.runIf(tools)('first run: start --demo, trust, the first administrator, Launch', () => {
  let server: PosternProcess;
  let port: number;
  const home = tempDir('postern-first-run-home-');

  beforeAll(async () => {
    port = await freePort();
    server = await PosternProcess.start({ args: ['--listen-addr', `127.0.0.1:${port}`, '--public-addr', `postern.localhost:${port}`, '--demo'], diag: false });
    mkdirSync(SHOTS, { recursive: true });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('goes from the banner to the demo app in a browser that trusts the cluster', async () => {
    const started = Date.now();
    expect(server.stdout).toContain(`demo  a web app:  https://demo.postern.localhost:${port}`);
    const trust = /postern trust (--proxy=\S+ --ca-pin=\S+)/.exec(server.stdout)![1]!.split(' ');
    const invite = /First administrator: .*\n\s+(https:\/\/\S+)/.exec(server.stdout)![1]!;
    const trusted = await postern(['trust', ...trust], { env: { HOME: home, POSTERN_HOME: join(home, '.postern') } });
    expect(trusted.code, trusted.stderr).toBe(0);

    const browser = await launchChromium({ env: { HOME: home } });
    try {
      const page = await browser.newPage();
      const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
      await page.goto(invite);
      const secret = await page.locator('code').innerText();
      // The server's page wears the console's header: the same mark, in the same colours.
      const mark = () =>
        page.evaluate<string>("(() => { const el = document.querySelector('.topbar .brand .brand-mark'); const s = getComputedStyle(el); return [s.backgroundColor, s.color, getComputedStyle(el.closest('.topbar')).borderBottomColor].join(' '); })()");
      const invitesMark = await mark();
      await shot('1-invite');
      const password = 'a first password, long enough';
      const step = totpStep();
      await page.getByLabel('Choose a password').fill(password);
      await page.getByLabel('The same password again').fill(password);
      await page.getByLabel('The 6-digit code').fill(totpCode(secret, step));
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByText('You are all set, admin').waitFor();
      // The command it gives pins the cluster's CA, which a first login needs here.
      expect(await page.locator('pre').innerText()).toBe(`postern login --proxy=postern.localhost:${port} --user=admin ${trust[1]}`);
      await shot('2-account-ready');

      await page.getByRole('link', { name: 'sign in' }).click();
      await signIn(page, 'admin', password, totpCode(secret, step + 1));
      await page.getByRole('heading', { name: 'Resources' }).waitFor();
      expect(await mark()).toBe(invitesMark);
      expect(invitesMark).not.toMatch(/rgba\(0, 0, 0, 0\)/); // styled, not the browser's defaults
      await expect.poll(() => page.locator('[data-app]').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-app')))).toEqual(['demo', 'echo']);
      await shot('3-applications');

      await page.getByRole('link', { name: 'Launch demo' }).click();
      await page.waitForURL(`https://demo.postern.localhost:${port}/`);
      await page.getByRole('heading', { name: 'Hello, admin!' }).waitFor();
      expect(await page.locator('pre').innerText()).toContain('"username": "admin"');
      await shot('4-demo-app');
      process.stdout.write(`first run: invite, sign-in and Launch took ${Date.now() - started} ms in headless Chromium; screenshots in ${SHOTS}\n`);
    } finally {
      await browser.close();
    }
  }, 90_000);

  it('serves the demo TCP app, and keeps the demo agent\'s identity for the next start', async () => {
    const apps = await postern(['ctl', 'get', 'apps', '--data-dir', server.dataDir]);
    expect(apps.stdout).toMatch(/^echo\s+env=demo\s+tcp:\/\/127\.0\.0\.1:\d+\s+demo\s/m);
    await server.stop();
    server = await PosternProcess.start({ dataDir: server.dataDir, args: ['--listen-addr', `127.0.0.1:${port}`, '--public-addr', `postern.localhost:${port}`, '--demo'], diag: false });
    expect(server.stdout).toContain('Demo agent "demo"');
    const tokens = await postern(['ctl', 'get', 'tokens', '--data-dir', server.dataDir, '--format', 'json']);
    expect(JSON.parse(tokens.stdout)).toEqual([]); // joined once: the second start made no token
  });
});

async function signIn(page: Page, user: string, password: string, code: string): Promise<void> {
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('One-time code').fill(code);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
