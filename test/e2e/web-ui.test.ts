import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContextOptions, Page } from 'playwright-core';
import { haveChromium } from '../harness/browser.js';
import { eventually } from '../harness/eventually.js';
import { freePort } from '../harness/ports.js';
import { BrowserSession } from '../helpers/browser-session.js';
import { TestCluster } from '../helpers/cluster.js';
import { TestApp } from '../helpers/test-app.js';
import { tempDir, type PosternProcess } from '../helpers/postern.js';

const browserReady = haveChromium();
const PASSWORD = 'correct horse battery staple';
const LONG_APP = 'analytics-warehouse-staging-eu-west';

/**
 * The web UI in real headless Chromium against a real cluster and agent. The browser trusts the
 * cluster's host CA by its pin (--ignore-certificate-errors-spki-list), not by ignoring TLS errors.
 */
describe.runIf(browserReady)('web UI: sign in, applications, account menu', () => {
  let cluster: TestCluster;
  let agent: PosternProcess;
  let grafana: TestApp;
  /** Everything each test opened is checked and closed after it. */
  let browser: BrowserSession;
  let origin: string;
  let userCount = 0;

  beforeAll(async () => {
    cluster = await TestCluster.start();
    const dir = tempDir('postern-roles-');
    writeFileSync(join(dir, 'prod-apps.yaml'), 'kind: role\nversion: v1\nmetadata: { name: prod-apps }\nspec:\n  allow:\n    app_labels: { env: prod }\n');
    writeFileSync(join(dir, 'no-apps.yaml'), 'kind: role\nversion: v1\nmetadata: { name: no-apps }\nspec: {}\n');
    for (const file of ['prod-apps.yaml', 'no-apps.yaml']) {
      const r = await cluster.ctl(['create', '-f', join(dir, file)]);
      if (r.code !== 0) throw new Error(r.stderr);
    }
    // Only grafana answers (a real app that verifies the assertion); the others need not, to be listed.
    grafana = await TestApp.start({ proxyPort: cluster.server.proxyPort, caPem: (await cluster.ctl(['auth', 'export'])).stdout, issuer: 'postern.localhost' });
    const p1 = grafana.port;
    const [p2, p3, p4] = [await freePort(), await freePort(), await freePort()];
    agent = await cluster.startAgent(
      [
        '--app', `name=grafana,uri=http://127.0.0.1:${p1},description=Dashboards and alerts,labels=env=dev`,
        '--app', `name=redis,uri=tcp://127.0.0.1:${p2}`,
        '--app', `name=billing,uri=http://127.0.0.1:${p3},labels=env=prod,team=finance`,
        '--app', `name=${LONG_APP},uri=http://127.0.0.1:${p4},description=Query console for the staging data warehouse,labels=env=staging,team=data-platform-and-analytics,region=eu-west-1`,
      ],
      { token: await cluster.token('app') },
    );
    await eventually(
      async () => {
        const r = await cluster.ctl(['get', 'apps', '--format', 'json']);
        return r.code === 0 && (JSON.parse(r.stdout) as unknown[]).length === 4 ? true : undefined;
      },
      () => 'the agent never announced its four apps',
      10_000,
    );
    // Nothing leaves the machine even when the UI is wrong: requests elsewhere are recorded and refused.
    browser = await BrowserSession.launch(cluster, { ownHostsOnly: true });
    origin = browser.origin;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    grafana?.close();
    await cluster?.stop();
  });

  afterEach(async () => {
    const { foreign, problems } = await browser.settle();
    // No fonts, CDNs or anything else from outside the cluster, and nothing the CSP refused.
    expect(foreign).toEqual([]);
    expect(problems).toEqual([]);
  });

  /** A fresh browser profile (no cookies) with one page. */
  const open = (options: BrowserContextOptions = {}): Promise<Page> => browser.page(options);

  async function newUser(roles = 'access'): Promise<{ name: string; secret: string }> {
    const name = `person${++userCount}`;
    return { name, secret: await cluster.addUser(name, PASSWORD, roles) };
  }

  async function fillLogin(page: Page, user: string, password: string, code: string): Promise<void> {
    const answered = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/webapi/sessions');
    await browser.fillSignIn(page, user, password, code);
    await answered;
  }

  async function signIn(page: Page, user: { name: string; secret: string }): Promise<void> {
    await fillLogin(page, user.name, PASSWORD, await cluster.freshCode(user.secret));
  }

  /** The names on the application cards, in the order shown. */
  const appNames = (page: Page) => page.locator('[data-app]').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-app')));

  /** GET /webapi/whoami from inside the page (the browser's cookies; Node could not resolve the name). */
  const whoami = (page: Page) =>
    page.evaluate(async () => {
      const r = await fetch('/webapi/whoami', { credentials: 'same-origin', headers: { accept: 'application/json' } });
      return { status: r.status, body: (await r.json()) as { error?: { message: string } } };
    });
  const whoamiStatus = async (page: Page) => (await whoami(page)).status;

  it('shows the login form with a one-time code field and the server error for a wrong password or too many tries', async () => {
    const user = await newUser();
    const page = await open();
    await page.goto(`${origin}/web`);
    await expect.poll(() => page.getByRole('heading', { name: /Sign in/ }).isVisible()).toBe(true);
    await expect.poll(() => page.getByLabel('One-time code').isVisible()).toBe(true); // second_factor: otp
    expect(await page.getByTestId('cluster-name').innerText()).toContain('postern.localhost');

    await fillLogin(page, user.name, 'not the password at all', cluster.wrongCode(user.secret));
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.innerText()).toMatch(/wrong user name, password or one-time code/i);
    expect(await alert.innerText()).toContain('LOGIN_FAILED');
    expect(await page.getByLabel('One-time code').inputValue()).toBe(''); // a code works once
    expect(await whoamiStatus(page)).toBe(401);

    // Past five failures the server refuses the user for a while, and the form says so.
    for (let i = 0; i < 4; i++) {
      await fillLogin(page, user.name, `wrong password ${i}!`, '000000');
      await expect.poll(() => page.getByRole('button', { name: 'Sign in' }).isEnabled()).toBe(true);
      expect(await alert.innerText()).toContain('LOGIN_FAILED');
    }
    await fillLogin(page, user.name, PASSWORD, await cluster.freshCode(user.secret));
    await expect.poll(() => alert.innerText()).toMatch(/Too many attempts[\s\S]*too many failed logins; try again in \d+ min[\s\S]*RATE_LIMITED/i);
    expect(await whoamiStatus(page)).toBe(401);
  });

  it('signs in with password and code and lists the apps with labels, a Launch link for web apps, the command for TCP apps, and a search', async () => {
    const page = await open();
    await page.goto(`${origin}/web`);
    await signIn(page, await newUser());
    await page.getByRole('heading', { name: 'Resources' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/web');
    await expect.poll(() => appNames(page)).toEqual([LONG_APP, 'billing', 'grafana', 'redis']);

    const grafana = page.locator('[data-app="grafana"]');
    expect(await grafana.locator('.label').allInnerTexts()).toEqual(['env=dev']);
    expect(await grafana.innerText()).toContain('Dashboards and alerts');
    const launch = grafana.getByRole('link', { name: 'Launch grafana' });
    expect(await launch.getAttribute('href')).toBe('/web/launch/grafana');

    const redis = page.locator('[data-app="redis"]');
    expect(await redis.getByTestId('tcp-command').innerText()).toBe('postern proxy app redis');
    expect(await redis.getByRole('link').count()).toBe(0); // no Launch for a TCP app

    const search = page.getByLabel('Search resources');
    await search.fill('redis');
    await expect.poll(() => appNames(page)).toEqual(['redis']);
    await search.fill('env=dev');
    await expect.poll(() => appNames(page)).toEqual(['grafana']);
    await search.fill('prod');
    await expect.poll(() => appNames(page)).toEqual(['billing']);
    await search.fill('nothing-is-called-this');
    await expect.poll(() => page.getByText('Nothing matches').isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Show everything' }).click();
    await expect.poll(() => appNames(page)).toHaveLength(4);

    // Launch is a plain link: a full page load of the server's launch route in the same tab, and
    // from there the app's own page, greeting the user named in the assertion it verified.
    const navigation = page.waitForRequest((r) => r.isNavigationRequest() && r.frame() === page.mainFrame() && r.url() === `${origin}/web/launch/grafana`);
    await launch.click();
    await navigation;
    await page.waitForURL(`https://grafana.postern.localhost:${cluster.server.proxyPort}/`);
    expect(await page.locator('#hello').innerText()).toMatch(/^Hello, person\d+$/);
  });

  it('lists only the apps the roles allow, and says what to ask for when there are none', async () => {
    const prod = await open();
    await prod.goto(`${origin}/web`);
    await signIn(prod, await newUser('prod-apps'));
    await prod.getByRole('heading', { name: 'Resources' }).waitFor();
    await expect.poll(() => appNames(prod)).toEqual(['billing']);
    expect(await prod.getByText('grafana').count()).toBe(0);

    const none = await open();
    await none.goto(`${origin}/web`);
    await signIn(none, await newUser('no-apps'));
    const empty = none.getByTestId('resources-empty');
    await empty.waitFor();
    expect(await empty.innerText()).toMatch(/Nothing is available to you yet[\s\S]*Ask your Postern administrator for a role/);
    expect(await appNames(none)).toEqual([]);
    expect(await none.getByLabel('Search resources').count()).toBe(0);
  });

  it('after sign-in follows ?next= to a path under /web/ with a full page load, and never anywhere else', async () => {
    const page = await open();
    await page.goto(`${origin}/web/login?next=${encodeURIComponent('/web/launch/grafana')}`);
    const navigation = page.waitForRequest((r) => r.isNavigationRequest() && r.frame() === page.mainFrame() && r.url() === `${origin}/web/launch/grafana`);
    await signIn(page, await newUser());
    await navigation;

    const unsafe = ['https://evil.example/web/', '//evil.example/web/', '/\\evil.example/web/', '/web/%2e%2e/webapi/whoami', 'javascript:alert(1)'];
    for (const next of unsafe) {
      const p = await open();
      const navigations: string[] = [];
      p.on('request', (r) => {
        if (r.isNavigationRequest()) navigations.push(r.url());
      });
      await p.goto(`${origin}/web?next=${encodeURIComponent(next)}`);
      await signIn(p, await newUser());
      await p.getByRole('heading', { name: 'Resources' }).waitFor();
      await expect.poll(() => appNames(p)).toHaveLength(4);
      expect(navigations, next).toEqual([`${origin}/web?next=${encodeURIComponent(next)}`]);
      expect(p.url(), next).toBe(`${origin}/web`); // the ignored next= is dropped from the address
    }
  }, 90_000);

  it('opening an app while signed out: sign in, then straight back to the page that was asked for', async () => {
    const appPage = `https://grafana.postern.localhost:${cluster.server.proxyPort}/dashboards/42?from=now-1h`;
    const page = await open();
    await page.goto(appPage);
    await page.getByLabel('User name').waitFor();
    expect(new URL(page.url()).origin).toBe(origin);
    expect(new URL(page.url()).searchParams.get('next')).toMatch(/^\/web\/launch\/grafana\?/);
    await signIn(page, await newUser());
    await page.waitForURL(appPage);
    expect(await page.locator('#hello').innerText()).toMatch(/^Hello, person\d+$/);
  });

  it('the account menu shows the user, roles and session end; Log out returns to the form and ends the session on the server', async () => {
    const user = await newUser('access,auditor');
    const page = await open();
    await page.goto(`${origin}/web`);
    await signIn(page, user);
    await page.getByRole('heading', { name: 'Resources' }).waitFor();

    const menuButton = page.getByRole('button', { name: /account menu/ });
    expect(await menuButton.innerText()).toContain(user.name);
    const panel = page.getByRole('region', { name: 'Account' });
    expect(await panel.isVisible()).toBe(false);
    await menuButton.click();
    await panel.waitFor();
    expect(await menuButton.getAttribute('aria-expanded')).toBe('true');
    expect(await panel.getByTestId('account-user').innerText()).toBe(user.name);
    expect(await panel.getByTestId('account-roles').locator('li').allInnerTexts()).toEqual(['access', 'auditor']);
    expect(await panel.getByTestId('account-expires').innerText()).toMatch(/\d.*\(in 1[12] h( \d+ min)?\)/); // cert_ttl 12 h
    await page.keyboard.press('Escape');
    await expect.poll(() => panel.isVisible()).toBe(false);

    const [cookie] = (await page.context().cookies()).filter((c) => c.name === '__Host-postern_session');
    expect(cookie).toBeDefined();
    await menuButton.click();
    await panel.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('User name').waitFor();
    expect(await page.getByText('You have signed out.').isVisible()).toBe(true);
    expect(new URL(page.url()).pathname).toBe('/web/login');
    expect(await whoamiStatus(page)).toBe(401);
    // Not just a forgotten cookie: the session is gone on the server.
    await page.context().addCookies([cookie!]);
    const replay = await whoami(page);
    expect(replay.status).toBe(401);
    expect(replay.body.error?.message).toContain('your session has ended');
  });

  it('returns to the login form when a request is answered 401 (the session was ended by an administrator)', async () => {
    const user = await newUser();
    const page = await open();
    await page.goto(`${origin}/web`);
    await signIn(page, user);
    await page.getByRole('heading', { name: 'Resources' }).waitFor();
    const sessions = JSON.parse((await cluster.ctl(['get', 'sessions', '--format', 'json'])).stdout) as { id: string; user: string }[];
    const mine = sessions.filter((s) => s.user === user.name);
    expect(mine).toHaveLength(1);
    expect((await cluster.ctl(['rm', 'session', mine[0]!.id])).code).toBe(0);

    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.getByLabel('User name').waitFor();
    expect(await page.getByText('Your session has ended. Sign in again to continue.').isVisible()).toBe(true);
    expect(await page.getByRole('heading', { name: 'Resources' }).count()).toBe(0);
  });

  it('accepts an invite: the page sets a password and enrols the authenticator, then the person signs in', async () => {
    const added = await cluster.ctl(['users', 'add', 'invited', '--roles=access']);
    const link = /https:\/\/\S+\/web\/invite\/\S+/.exec(added.stdout)![0];
    const page = await open();
    await page.goto(link);
    const secret = await page.locator('code').innerText(); // the key, for people who cannot scan the QR code
    expect(await page.locator('.qr svg').count()).toBe(1);
    await page.getByLabel('Choose a password').fill(PASSWORD);
    await page.getByLabel('The same password again').fill(PASSWORD);
    await page.getByLabel('The 6-digit code').fill(await cluster.freshCode(secret));
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('You are all set, invited').waitFor();
    await page.goto(`${origin}/web`);
    await signIn(page, { name: 'invited', secret });
    await page.getByRole('heading', { name: 'Resources' }).waitFor();
  });

  it('fits a 390 px wide phone screen without horizontal scrolling', async () => {
    const page = await open({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    // A string, evaluated in the page: this file is type-checked without the DOM library.
    const overflow = () => page.evaluate<{ scrollWidth: number; innerWidth: number }>('({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth })');
    const fits = async (where: string) => {
      const o = await overflow();
      expect(o.scrollWidth, `${where}: the page is ${o.scrollWidth} px wide`).toBeLessThanOrEqual(390);
      expect(o.scrollWidth, `${where}: the page is ${o.scrollWidth} px wide`).toBeLessThanOrEqual(o.innerWidth);
      expect(o.innerWidth, where).toBe(390);
    };
    await page.goto(`${origin}/web`);
    await page.getByLabel('User name').waitFor();
    await fits('login form');
    const user = await newUser();
    await fillLogin(page, user.name, 'not the password at all', '000000');
    await page.getByRole('alert').waitFor();
    await fits('login error');
    await fillLogin(page, user.name, PASSWORD, await cluster.freshCode(user.secret));
    await page.getByRole('heading', { name: 'Resources' }).waitFor();
    await expect.poll(() => appNames(page)).toHaveLength(4);
    await fits('applications');
    // The long app's card and labels stay inside the screen too.
    const box = await page.locator(`[data-app="${LONG_APP}"]`).boundingBox();
    expect(box!.x).toBeGreaterThanOrEqual(0);
    expect(box!.x + box!.width).toBeLessThanOrEqual(390);
    await page.getByRole('button', { name: /account menu/ }).click();
    await page.getByRole('region', { name: 'Account' }).waitFor();
    await fits('account menu');
  });
});
