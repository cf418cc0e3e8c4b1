import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launchChromium } from '../harness/browser.js';
import { TestCluster } from '../helpers/cluster.js';
import { haveProgram } from '../helpers/programs.js';
import { postern, run, tempDir } from '../helpers/postern.js';

const tools = haveChromium() && haveProgram('certutil', ['-H']);

/** What Chromium, with this HOME (and so this NSS database), makes of the cluster's web UI. */
async function openInChromium(home: string, url: string): Promise<string> {
  const browser = await launchChromium({ env: { HOME: home } });
  try {
    const page = await browser.newPage();
    const response = await page.goto(url).catch((err: Error) => err);
    return response instanceof Error ? (/net::ERR_[A-Z_]+/.exec(response.message)?.[0] ?? response.message) : `HTTP ${response?.status()}`;
  } finally {
    await browser.close();
  }
}

describe.runIf(tools)('postern trust: browsers trust the cluster without a warning', () => {
  let cluster: TestCluster;
  let home: string;
  const asUser = (args: string[], env: Record<string, string> = {}) => postern(args, { env: { HOME: home, POSTERN_HOME: join(home, '.postern'), ...env } });

  beforeAll(async () => {
    cluster = await TestCluster.start();
    home = tempDir('postern-trust-home-');
    mkdirSync(home, { recursive: true });
  });
  afterAll(async () => {
    await cluster?.server.stop();
  });

  it('adds the host CA to the NSS database Chromium reads, and --remove takes it out again', async () => {
    const url = cluster.server.url('/web');
    expect(await openInChromium(home, url)).toBe('net::ERR_CERT_AUTHORITY_INVALID');

    const added = await asUser(['trust', `--proxy=${cluster.proxy}`, `--ca-pin=${cluster.pin}`]);
    expect(added.code, added.stderr).toBe(0);
    const nssdb = join(home, '.pki', 'nssdb');
    expect(added.stdout).toContain(`Trusted the host CA of cluster postern.localhost (pin ${cluster.pin}) in:\n  ${nssdb}\n`);
    const listed = await run('certutil', ['-L', '-d', `sql:${nssdb}`]);
    expect(listed.stdout).toMatch(/Postern postern\.localhost host CA\s+C,,/);
    expect(await openInChromium(home, url)).toBe('HTTP 200');

    // Again: replaced, not added twice.
    expect((await asUser(['trust', `--proxy=${cluster.proxy}`, `--ca-pin=${cluster.pin}`])).code).toBe(0);
    expect((await run('certutil', ['-L', '-d', `sql:${nssdb}`])).stdout.match(/Postern postern\.localhost host CA/g)).toHaveLength(1);

    const removed = await asUser(['trust', '--remove', `--proxy=${cluster.proxy}`, `--ca-pin=${cluster.pin}`]);
    expect(removed.stdout).toContain(`Removed the host CA of cluster postern.localhost from:\n  ${nssdb}\n`);
    expect(await openInChromium(home, url)).toBe('net::ERR_CERT_AUTHORITY_INVALID');
    expect((await asUser(['trust', '--remove', `--proxy=${cluster.proxy}`, `--ca-pin=${cluster.pin}`])).stdout).toContain('nothing to remove');
  }, 60_000);

  it('trusts nothing when the pin is not the cluster\'s, and says what to do without a pin or certutil', async () => {
    const other = tempDir('postern-trust-other-');
    const wrong = await postern(['trust', `--proxy=${cluster.proxy}`, `--ca-pin=sha256:${'ab'.repeat(32)}`], { env: { HOME: other, POSTERN_HOME: join(other, '.postern') } });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/serves a host CA with pin sha256:[0-9a-f]{64}, not the sha256:abab/);
    expect((await run('certutil', ['-L', '-d', `sql:${join(other, '.pki', 'nssdb')}`])).code).not.toBe(0); // no database was even made

    const unsure = await postern(['trust', `--proxy=${cluster.proxy}`], { env: { HOME: other, POSTERN_HOME: join(other, '.postern') } });
    expect(unsure.stderr).toContain('pass --ca-pin=PIN');
    const nowhere = await postern(['trust'], { env: { HOME: other, POSTERN_HOME: join(other, '.postern') } });
    expect(nowhere.stderr).toContain('which cluster? Pass --proxy=HOST:PORT with --ca-pin=PIN');

    const noCertutil = await postern(['trust', `--proxy=${cluster.proxy}`, `--ca-pin=${cluster.pin}`], { env: { HOME: other, POSTERN_HOME: join(other, '.postern'), PATH: '/nonexistent' } });
    expect(noCertutil.stderr).toContain('certutil is not installed');
    expect(noCertutil.stderr).toContain('apt-get install libnss3-tools');
  });
});

