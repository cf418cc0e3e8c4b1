import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PosternError } from '../errors/postern-error.js';

const run = promisify(execFile);

/**
 * The NSS databases that browsers on Linux read for their trusted CAs: the shared one
 * (`~/.pki/nssdb`, Chromium and Chrome), created when missing, and each Firefox profile's
 * (`~/.mozilla/firefox/<profile>/cert9.db`), used where they exist.
 */
export function browserNssDatabases(home = homedir()): string[] {
  const firefox = join(home, '.mozilla', 'firefox');
  const profiles = existsSync(firefox) ? readdirSync(firefox).map((p) => join(firefox, p)).filter((dir) => existsSync(join(dir, 'cert9.db'))) : [];
  return [join(home, '.pki', 'nssdb'), ...profiles];
}

/** The nickname a cluster's CA has in a trust store: how `--remove` finds it again. */
export function trustNickname(cluster: string): string {
  return `Postern ${cluster} host CA`;
}

/**
 * Adds a CA to an NSS database as trusted for TLS servers (certutil's `C,,`), replacing an
 * earlier copy under the same nickname; creates the database (no password) if there is none.
 */
export async function addToNssDatabase(dir: string, nickname: string, caPem: string): Promise<void> {
  if (!existsSync(join(dir, 'cert9.db'))) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    await certutil(['-N', '-d', `sql:${dir}`, '--empty-password']);
  }
  await removeFromNssDatabase(dir, nickname);
  const scratch = mkdtempSync(join(tmpdir(), 'postern-trust-'));
  try {
    const file = join(scratch, 'ca.pem');
    writeFileSync(file, caPem);
    await certutil(['-A', '-d', `sql:${dir}`, '-n', nickname, '-t', 'C,,', '-a', '-i', file]);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Removes every certificate under the nickname; says whether there was one. */
export async function removeFromNssDatabase(dir: string, nickname: string): Promise<boolean> {
  if (!existsSync(join(dir, 'cert9.db'))) return false;
  let removed = false;
  // certutil -D removes one certificate per call; a nickname can hold several (a renewed CA).
  for (;;) {
    try {
      await certutil(['-D', '-d', `sql:${dir}`, '-n', nickname]);
      removed = true;
    } catch (err) {
      if (/could not find certificate|not found/i.test((err as Error).message)) return removed;
      throw err;
    }
  }
}

/** Runs certutil (libnss3-tools), with an error that names the package when it is missing. */
async function certutil(args: string[]): Promise<string> {
  try {
    return (await run('certutil', args)).stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new PosternError('USAGE', 'certutil is not installed: it edits the browsers\' trust stores. Install it (Debian/Ubuntu: apt-get install libnss3-tools; Fedora: dnf install nss-tools; Arch: pacman -S nss) and run this again');
    }
    throw new PosternError('INTERNAL', `certutil ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`, { cause: err });
  }
}
