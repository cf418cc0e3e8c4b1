import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { haveChromium } from '../harness/browser.js';
import { BrowserSession } from '../helpers/browser-session.js';
import { TestCluster } from '../helpers/cluster.js';
import { tempDir } from '../helpers/postern.js';

const browserReady = haveChromium();
const PASSWORD = 'correct horse battery staple';

/** A role with two mistakes, each on a line of its own: an empty login (line 9) and a misspelt verb (line 13). */
const BROKEN_ROLE = `kind: role
version: v1
metadata:
  name: web-dev
  description: Developers of the web app
spec:
  allow:
    app_labels: { env: dev }
    logins: [ubuntu, ""]
    rules:
      - resources: [audit]
        verbs:
          - lst
  deny: {}
`;

/**
 * The Administration pages in headless Chromium against a real cluster: an editor (ada) manages
 * users, roles, join tokens and locks through the admin ops; someone without the rights is told why.
 */
describe.runIf(browserReady)('web console: administration', () => {
  let cluster: TestCluster;
  let browser: BrowserSession;
  let origin: string;
  const shots = tempDir('postern-admin-shots-');

  beforeAll(async () => {
    const file = join(tempDir(), 'postern.yaml');
    writeFileSync(file, 'auth:\n  second_factor: off\n');
    cluster = await TestCluster.start(['--config', file]);
    await cluster.addUser('ada', PASSWORD, 'editor,access');
    await cluster.addUser('paul', PASSWORD, 'access');
    await cluster.addUser('carol', PASSWORD, 'access');
    browser = await BrowserSession.launch(cluster);
    origin = browser.origin;
    console.log(`web admin screenshots: ${shots}`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  afterEach(async () => {
    expect((await browser.settle()).problems).toEqual([]);
  });

  /** A fresh browser profile, signed in as `user`, on `path`. */
  const signedIn = (user: string, path: string) => browser.signedIn({ name: user, password: PASSWORD }, path);

  /** The status a fresh browser gets for a link (an invite page answers 200 while the link is good). */
  async function statusOf(url: string): Promise<number | undefined> {
    const page = await browser.page();
    return (await page.goto(url))?.status();
  }

  const dialog = (page: Page) => page.getByRole('dialog');
  const outcome = (page: Page) => page.getByTestId('admin-outcome');

  it('invites a user (the link works), resets one (a new link, the old one dead), locks one (their calls are refused) and deletes one after confirming', async () => {
    const page = await signedIn('ada', '/web');
    expect(await page.getByRole('navigation', { name: 'Pages' }).getByRole('link').allInnerTexts()).toEqual(['Resources', 'Audit log', 'Active sessions', 'Administration']);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Administration' }).click();
    await page.getByRole('heading', { name: 'Administration', level: 1 }).waitFor();
    expect(await page.title()).toMatch(/^Administration · /);
    expect(await page.getByRole('navigation', { name: 'Administration sections' }).getByRole('link', { name: 'Users' }).getAttribute('aria-current')).toBe('page');

    // Invite bob with the access role and two logins.
    await page.getByLabel('Name', { exact: true }).fill('bob');
    await page.getByLabel('Logins').fill('ubuntu, deploy');
    expect(await page.getByRole('checkbox', { name: 'access' }).isChecked()).toBe(true);
    await page.getByRole('button', { name: 'Invite', exact: true }).click();
    await page.getByRole('heading', { name: 'Invite link for bob' }).waitFor();
    const invite = await page.getByTestId('invite-link').innerText();
    expect(invite).toMatch(new RegExp(`^${origin}/web/invite/\\S+$`));
    expect(await page.getByRole('button', { name: /^Copy / }).count()).toBe(1);
    const bob = page.locator('tr[data-user="bob"]');
    await bob.waitFor();
    expect(await bob.innerText()).toMatch(/access[\s\S]*logins=ubuntu, deploy[\s\S]*by ada/);
    expect(await statusOf(invite)).toBe(200);
    await page.screenshot({ path: join(shots, 'admin-users.png'), fullPage: true });

    // Reset: after confirming, a new link; the first stops working.
    await page.getByRole('button', { name: "Reset bob's password" }).click();
    await dialog(page).getByRole('button', { name: 'Reset' }).click();
    await page.getByRole('heading', { name: 'New link for bob' }).waitFor();
    const reset = await page.getByTestId('invite-link').innerText();
    expect(reset).not.toBe(invite);
    expect(await outcome(page).innerText()).toContain('bob has a new link');
    expect(await statusOf(reset)).toBe(200);
    expect(await statusOf(invite)).not.toBe(200);

    // Lock paul for an hour with a message: his own session's calls are refused at once.
    const paul = await signedIn('paul', '/web');
    expect(await paul.evaluate(async () => (await fetch('/webapi/whoami')).status)).toBe(200);
    await page.getByRole('button', { name: 'Lock paul' }).click();
    await dialog(page).getByLabel('Message').fill('security review, ask ada');
    await dialog(page).getByLabel('For').selectOption({ label: '1 hour' });
    await dialog(page).getByRole('button', { name: 'Lock user' }).click();
    await expect.poll(() => outcome(page).innerText()).toMatch(/^User paul is locked until .+ \(in (59 min|1 h)\): security review, ask ada\.$/);
    expect(await dialog(page).count()).toBe(0);
    const refused = await paul.evaluate(async () => {
      const r = await fetch('/webapi/whoami');
      return { status: r.status, body: (await r.json()) as { error: { code: string; message: string } } };
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('LOCKED');
    expect(refused.body.error.message).toContain('security review, ask ada');

    // Delete bob: the dialog opens with focus on Cancel; Cancel keeps him, confirming removes him.
    await page.getByRole('button', { name: 'Delete bob' }).click();
    await dialog(page).getByRole('heading', { name: 'Delete bob?' }).waitFor();
    expect(await dialog(page).getByRole('button', { name: 'Cancel' }).evaluate((b) => b === b.ownerDocument.activeElement)).toBe(true);
    await page.screenshot({ path: join(shots, 'admin-users-delete.png'), fullPage: true });
    await page.keyboard.press('Escape');
    expect(await dialog(page).count()).toBe(0);
    expect(await bob.count()).toBe(1);
    await page.getByRole('button', { name: 'Delete bob' }).click();
    await dialog(page).getByRole('button', { name: 'Delete user' }).click();
    await expect.poll(() => bob.count()).toBe(0);
    expect(await outcome(page).innerText()).toBe('bob was deleted.');
    const users = JSON.parse((await cluster.ctl(['get', 'users', '--format', 'json'])).stdout) as { name: string }[];
    expect(users.map((u) => u.name)).not.toContain('bob');
    expect(users.map((u) => u.name)).toContain('paul');
  });

  it('shows a refused role at the lines the server names, then saves it fixed, edits it and deletes it', async () => {
    const page = await signedIn('ada', '/web/admin/roles');
    await page.locator('tr[data-role="editor"]').waitFor();
    await page.getByRole('button', { name: 'New role' }).click();
    const editor = page.getByRole('textbox', { name: 'Role (YAML)' });
    expect(await editor.inputValue()).toMatch(/^kind: role\n/);
    await editor.fill(BROKEN_ROLE);
    await page.getByRole('button', { name: 'Save role' }).click();

    const listed = page.getByTestId('role-problems');
    await listed.waitFor();
    expect(await listed.locator('li').evaluateAll((items) => items.map((li) => [li.getAttribute('data-line'), li.textContent]))).toEqual([
      ['9', 'Line 9: spec.allow.logins[1]: an empty value grants nothing; remove it'],
      ['13', expect.stringMatching(/^Line 13: spec\.allow\.rules\[0\]\.verbs\[0\]: "lst" is not a known verb \(did you mean list\?\)/)],
    ]);
    // The lines themselves are marked, with the message beside them, and only they.
    expect(await page.locator('.yaml-line.yaml-bad').evaluateAll((lines) => lines.map((l) => l.getAttribute('data-line')))).toEqual(['9', '13']);
    expect(await page.locator('.yaml-line[data-line="9"] .yaml-problem').innerText()).toBe('spec.allow.logins[1]: an empty value grants nothing; remove it');
    expect(await page.locator('.yaml-line[data-line="9"] .yaml-text').textContent()).toBe('    logins: [ubuntu, ""]');
    expect(await page.locator('.yaml-gutter .yaml-bad').allTextContents()).toEqual(['9', '13']);
    expect(await editor.getAttribute('aria-invalid')).toBe('true');
    await page.screenshot({ path: join(shots, 'admin-roles-error.png'), fullPage: true });

    // "Line 13" puts the cursor on that line.
    await listed.getByRole('button', { name: 'Line 13' }).click();
    const cursorLine = await editor.evaluate((t) => {
      const area = t as unknown as { value: string; selectionStart: number };
      return area.value.slice(0, area.selectionStart).split('\n').length;
    });
    expect(cursorLine).toBe(13);

    await editor.fill(BROKEN_ROLE.replace('[ubuntu, ""]', '[ubuntu]').replace('- lst', '- list'));
    await page.getByRole('button', { name: 'Save role' }).click();
    await expect.poll(() => outcome(page).innerText()).toBe('The role web-dev was created.');
    const row = page.locator('tr[data-role="web-dev"]');
    await row.waitFor();
    expect(await row.innerText()).toContain('Developers of the web app');
    await page.screenshot({ path: join(shots, 'admin-roles.png'), fullPage: true });

    // Edit: it loads as `ctl get role` prints it, and saves as an update.
    await page.getByRole('button', { name: 'Edit the role web-dev' }).click();
    await expect.poll(() => editor.inputValue()).toContain('name: web-dev');
    const printed = await cluster.ctl(['get', 'role', 'web-dev']);
    expect(await editor.inputValue()).toBe(printed.stdout);
    await editor.fill((await editor.inputValue()).replace('Developers of the web app', 'Web developers'));
    await page.getByRole('button', { name: 'Save role' }).click();
    await expect.poll(() => outcome(page).innerText()).toBe('The role web-dev was updated.');
    await expect.poll(() => row.innerText()).toContain('Web developers');

    // A built-in role cannot be changed: the server's reason is shown as it came.
    await page.getByRole('button', { name: 'Edit the role editor' }).click();
    await expect.poll(() => editor.inputValue()).toContain('name: editor');
    await page.getByRole('button', { name: 'Save role' }).click();
    await expect.poll(() => page.getByRole('alert').innerText()).toMatch(/"editor" is a built-in role and cannot be replaced[\s\S]*BAD_REQUEST/);
    await page.getByRole('button', { name: 'Cancel' }).click();

    await page.getByRole('button', { name: 'Delete the role web-dev' }).click();
    await dialog(page).getByRole('button', { name: 'Delete role' }).click();
    await expect.poll(() => row.count()).toBe(0);
    expect(await outcome(page).innerText()).toBe('The role web-dev was deleted.');
  });

  it('adds a join token (shown once with its start command) and removes it', async () => {
    const page = await signedIn('ada', '/web/admin/tokens');
    await page.getByRole('heading', { name: 'Add a join token' }).waitFor();
    await page.getByText(/^No join tokens\./).waitFor();
    await page.getByRole('checkbox', { name: /SSH nodes/ }).check();
    await page.getByLabel('Valid for').selectOption({ label: '1 hour' });
    await page.getByRole('button', { name: 'Add token' }).click();
    const token = (await page.getByTestId('token-value').innerText()).trim();
    const command = await page.getByTestId('token-command').innerText();
    expect(command).toBe(`postern start --roles=agent --proxy=postern.localhost:${cluster.server.proxyPort} --token=${token} --ca-pin=${cluster.pin} --app name=grafana,uri=http://localhost:3000,labels=env=dev --ssh name=web-1,addr=127.0.0.1:22,labels=env=prod`);
    const id = (await outcome(page).innerText()).match(/^Token (\S+) was made\.$/)![1]!;
    const row = page.locator(`tr[data-token="${id}"]`);
    await row.waitFor();
    expect(await row.innerText()).toMatch(/app, ssh[\s\S]*in 59 min|app, ssh[\s\S]*in 1 h/);
    await page.screenshot({ path: join(shots, 'admin-tokens.png'), fullPage: true });

    await page.getByRole('button', { name: `Remove the token ${id}` }).click();
    await dialog(page).getByRole('button', { name: 'Remove token' }).click();
    await expect.poll(() => row.count()).toBe(0);
    expect(await page.getByTestId('token-command').count()).toBe(0);
    expect(JSON.parse((await cluster.ctl(['tokens', 'ls', '--format', 'json'])).stdout)).toEqual([]);
  });

  it('adds a lock on a role and removes it; a misspelt name is refused with the server message', async () => {
    const page = await signedIn('ada', '/web/admin/locks');
    await page.getByRole('heading', { name: 'Add a lock' }).waitFor();
    await page.getByLabel('Lock a').selectOption('role');
    await page.getByLabel('Role name').fill('auditr');
    await page.getByRole('button', { name: 'Add lock' }).click();
    await expect.poll(() => page.getByRole('alert').innerText()).toMatch(/No such role: auditr \(did you mean "auditor"\?\)[\s\S]*BAD_REQUEST/);

    await page.getByLabel('Role name').fill('auditor');
    await page.getByLabel('Message').fill('audit freeze');
    await page.getByRole('button', { name: 'Add lock' }).click();
    await expect.poll(() => outcome(page).innerText()).toBe('Role auditor is locked until the lock is removed: audit freeze.');
    const row = page.locator('tr[data-target="role auditor"]');
    await row.waitFor();
    expect(await row.innerText()).toMatch(/role auditor\s+audit freeze\s+when removed/);
    await page.screenshot({ path: join(shots, 'admin-locks.png'), fullPage: true });

    await page.getByRole('button', { name: 'Remove the lock on role auditor' }).click();
    await dialog(page).getByRole('button', { name: 'Remove lock' }).click();
    await expect.poll(() => row.count()).toBe(0);
    const locks = JSON.parse((await cluster.ctl(['get', 'locks', '--format', 'json'])).stdout) as { target: Record<string, string> }[];
    expect(locks.map((l) => l.target)).not.toContainEqual({ role: 'auditor' });
  });

  it('tells someone without the rights that they need the editor role, in every section', async () => {
    const page = await signedIn('carol', '/web/admin');
    const denied = page.getByTestId('admin-denied');
    await denied.waitFor();
    // The navigation offers only what the roles open: carol (access only) has no console pages at all.
    expect(await page.getByRole('navigation', { name: 'Pages' }).count()).toBe(0);
    expect(await denied.innerText()).toMatch(/You need the editor role[\s\S]*Carol may not list users[\s\S]*ACCESS_DENIED/);
    expect(await page.getByRole('heading', { name: 'Invite a user' }).count()).toBe(0);
    await page.screenshot({ path: join(shots, 'admin-denied.png'), fullPage: true });
    for (const section of ['Roles', 'Join tokens', 'Locks']) {
      await page.getByRole('navigation', { name: 'Administration sections' }).getByRole('link', { name: section }).click();
      await expect.poll(() => denied.innerText()).toMatch(/You need the editor role[\s\S]*ACCESS_DENIED/);
    }
  });
});
