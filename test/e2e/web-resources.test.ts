import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launchChromium, spkiFromPin } from '../harness/browser.js';
import { freePort } from '../harness/ports.js';
import { TestCluster } from '../helpers/cluster.js';
import { tempDir, type PosternProcess } from '../helpers/postern.js';

const PASSWORD = 'resources page password';

/**
 * The resources page: apps, SSH nodes, databases and TCP routes in one list, with a filter by
 * kind, search, and the action each kind has. Routes come from /webapi/routes, decided per person.
 */
describe.runIf(haveChromium())('web UI: every kind of resource in one list', () => {
  let cluster: TestCluster;
  let agent: PosternProcess;
  let secret: string;

  beforeAll(async () => {
    const dir = tempDir('postern-resources-');
    writeFileSync(
      join(dir, 'postern.yaml'),
      `proxy:
  routes:
    - from: tcp+https://redis.example.test:6379
      to: tcp://127.0.0.1:6379
      labels: { env: dev }
    - from: tcp+https://vault.example.test:8200
      to: tcp://127.0.0.1:8200
      labels: { env: secret }
`,
    );
    cluster = await TestCluster.start(['--config', join(dir, 'postern.yaml')]);
    const [web, tcp] = [await freePort(), await freePort()];
    agent = await cluster.startAgent(['--app', `name=wiki,uri=http://127.0.0.1:${web},labels=env=dev`, '--app', `name=cache,uri=tcp://127.0.0.1:${tcp}`, '--ssh', 'name=web-1,addr=127.0.0.1:22,labels=env=dev'], { token: await cluster.token('app,ssh') });
    writeFileSync(join(dir, 'no-secrets.yaml'), 'kind: role\nversion: v1\nmetadata: { name: no-secrets }\nspec:\n  deny:\n    route_labels: { env: secret }\n');
    expect((await cluster.ctl(['create', '-f', join(dir, 'no-secrets.yaml')])).code).toBe(0);
    secret = await cluster.addUser('rita', PASSWORD, 'access,no-secrets', ['--logins=root,deploy']);
  });
  afterAll(async () => {
    await agent?.stop();
    await cluster?.server.stop();
  });

  const kinds = (page: Page) => page.locator('.app-list > li').evaluateAll((cards) => cards.map((c) => `${c.querySelector('.app-type')!.textContent}:${c.querySelector('.app-name')!.textContent}`));

  it('lists apps, nodes and the routes the roles allow, filters them by kind and search, and gives each its command', async () => {
    const browser = await launchChromium({ trustSpki: [spkiFromPin(cluster.pin)] });
    try {
      const page = await browser.newPage();
      await page.goto(cluster.server.url('/web'));
      await page.getByLabel('User name').fill('rita');
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await page.getByLabel('One-time code').fill(await cluster.freshCode(secret));
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Resources' }).waitFor();
      // The denied route is not listed; the rest are, sorted by name.
      await expect.poll(() => kinds(page)).toEqual(['TCP app:cache', 'TCP route:redis.example.test:6379', 'SSH node:web-1', 'Web app:wiki']);
      expect(await page.locator('[data-node="web-1"]').getByTestId('ssh-command').innerText()).toBe('postern ssh root@web-1');
      expect(await page.locator('[data-node="web-1"]').innerText()).toContain('As root, deploy');
      // Connect opens the browser terminal as that login (web-terminal.test.ts runs one against a real sshd).
      for (const login of ['root', 'deploy']) {
        expect(await page.getByRole('link', { name: `Connect to web-1 as ${login}` }).getAttribute('href')).toBe(`/web/terminal?node=web-1&login=${login}`);
      }
      expect(await page.locator('[data-route="redis.example.test:6379"]').getByTestId('route-command').innerText()).toBe('postern tcp --listen 127.0.0.1:6379 redis.example.test:6379');
      expect(await page.locator('[data-app="wiki"]').getByRole('link', { name: 'Launch wiki' }).count()).toBe(1);

      await page.getByRole('group', { name: 'Show' }).getByRole('button', { name: /SSH nodes/ }).click();
      await expect.poll(() => kinds(page)).toEqual(['SSH node:web-1']);
      await page.getByRole('group', { name: 'Show' }).getByRole('button', { name: /^All/ }).click();
      await page.getByLabel('Search resources').fill('env=dev');
      await expect.poll(() => kinds(page)).toEqual(['TCP route:redis.example.test:6379', 'SSH node:web-1', 'Web app:wiki']);
      await page.getByLabel('Search resources').fill('route');
      await expect.poll(() => kinds(page)).toEqual(['TCP route:redis.example.test:6379']);
      await page.screenshot({ path: join(tempDir('postern-resources-shot-'), 'resources.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  }, 60_000);
});
