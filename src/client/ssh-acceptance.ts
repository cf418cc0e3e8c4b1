import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSecretFile } from '../storage/secret-file.js';

/**
 * What this machine has seen of nodes accepting Postern's SSH certificates, kept in the profile
 * (ssh/accepted/NODE.json).
 *
 * A node's sshd answers "there is no such user" and "I do not trust this certificate's CA" with the
 * same "Permission denied (publickey)", on purpose (it never tells who exists). So the one evidence
 * that a node trusts Postern's user CA is that it accepted a Postern certificate before: when it
 * later refuses a login, the login is the problem, not the CA.
 */
export interface SshAcceptance {
  login: string;
  /** When (ISO 8601). */
  at: string;
}

function fileOf(profileDir: string, node: string): string {
  return join(profileDir, 'ssh', 'accepted', `${encodeURIComponent(node)}.json`);
}

/** Notes that the node accepted a certificate for `login`; never fails (it only improves later error messages). */
export function recordSshAcceptance(profileDir: string, node: string, login: string): void {
  try {
    writeSecretFile(fileOf(profileDir, node), JSON.stringify({ login, at: new Date().toISOString() } satisfies SshAcceptance) + '\n');
  } catch {
    // a read-only profile: the next refusal is explained less precisely, nothing worse
  }
}

/** The last time the node accepted a Postern certificate on this machine, if it ever did. */
export function lastSshAcceptance(profileDir: string, node: string): SshAcceptance | undefined {
  try {
    const found = JSON.parse(readFileSync(fileOf(profileDir, node), 'utf8')) as Partial<SshAcceptance>;
    return typeof found.login === 'string' && typeof found.at === 'string' ? { login: found.login, at: found.at } : undefined;
  } catch {
    return undefined;
  }
}
