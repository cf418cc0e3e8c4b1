import type { Browser, BrowserContext, BrowserContextOptions, Locator, Page } from 'playwright-core';
import { launchChromium, spkiFromPin } from '../harness/browser.js';
import type { TestCluster } from './cluster.js';

/** Someone to sign in as: a name, a password and, where the cluster asks for one, their OTP secret. */
export interface BrowserUser {
  name: string;
  password: string;
  /** The user's OTP secret: a fresh one-time code is filled in from it. */
  secret?: string;
}

/** What the closed pages saw: page errors and CSP refusals, and (with ownHostsOnly) requests that left the cluster. */
export interface BrowserFindings {
  problems: string[];
  foreign: string[];
}

/**
 * Headless Chromium trusting exactly one cluster (its host CA pin), handing out fresh browser
 * profiles that record page errors and Content Security Policy refusals, and signing people in
 * through the web console's login form.
 */
export class BrowserSession {
  readonly origin: string;
  private opened: { context: BrowserContext; problems: string[]; foreign: string[] }[] = [];

  private constructor(
    readonly browser: Browser,
    private readonly cluster: TestCluster,
    private readonly ownHostsOnly: boolean,
  ) {
    this.origin = `https://postern.localhost:${cluster.server.proxyPort}`;
  }

  /**
   * Launches Chromium for `cluster`. With `ownHostsOnly`, nothing leaves the machine even when the
   * UI is wrong: requests outside the cluster are recorded (see `settle`) and refused.
   */
  static async launch(cluster: TestCluster, opts: { ownHostsOnly?: boolean } = {}): Promise<BrowserSession> {
    const browser = await launchChromium({ trustSpki: [spkiFromPin(cluster.pin)] });
    return new BrowserSession(browser, cluster, opts.ownHostsOnly ?? false);
  }

  /** A fresh browser profile (no cookies) with one page. */
  async page(options: BrowserContextOptions = {}): Promise<Page> {
    const context = await this.browser.newContext(options);
    const entry = { context, problems: [] as string[], foreign: [] as string[] };
    this.opened.push(entry);
    if (this.ownHostsOnly) {
      const ours = (url: URL) => url.protocol === 'data:' || url.hostname === 'postern.localhost' || url.hostname.endsWith('.postern.localhost');
      await context.route(
        (url) => !ours(url),
        (route) => {
          entry.foreign.push(route.request().url());
          return route.abort('blockedbyclient');
        },
      );
    }
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (err) => entry.problems.push(`page error: ${err.message}`));
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) entry.problems.push(m.text());
    });
    return page;
  }

  /** Fills the login form (the one-time code only when given) and clicks Sign in. */
  async fillSignIn(page: Page, name: string, password: string, code?: string): Promise<void> {
    await page.getByLabel('User name').fill(name);
    await page.getByLabel('Password', { exact: true }).fill(password);
    if (code !== undefined) await page.getByLabel('One-time code').fill(code);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  /**
   * A fresh browser profile, signed in as `user` (password and, with a secret, a fresh one-time
   * code) on `path`, once `ready` shows: by default the account menu (the page navigation shows
   * only the pages the roles open).
   */
  async signedIn(user: BrowserUser, path: string, opts: { context?: BrowserContextOptions; ready?: (page: Page) => Locator } = {}): Promise<Page> {
    const page = await this.page(opts.context);
    await page.goto(`${this.origin}${path}`);
    await this.fillSignIn(page, user.name, user.password, user.secret === undefined ? undefined : await this.cluster.freshCode(user.secret));
    await (opts.ready ?? ((p: Page) => p.getByRole('button', { name: /account menu/ })))(page).waitFor();
    return page;
  }

  /** Closes every profile opened since the last call and returns what they saw. */
  async settle(): Promise<BrowserFindings> {
    const done = this.opened;
    this.opened = [];
    for (const o of done) await o.context.close();
    return { problems: done.flatMap((o) => o.problems), foreign: done.flatMap((o) => o.foreign) };
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}
