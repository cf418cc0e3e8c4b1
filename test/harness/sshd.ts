import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, stopProcess, waitUntilBound } from './ports.js';
import { tempDir } from './temp.js';

/**
 * A real OpenSSH server in the foreground on a free loopback port, with its own host key and one
 * user key allowed to log in as the current user (tests run as root in CI). Nothing of the
 * machine's own sshd configuration is used.
 */
export class Sshd {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly dir: string,
    /** The private key that may log in. */
    readonly userKey: string,
  ) {}

  /**
   * `configure` gets the host key's .pub path before sshd starts and returns more sshd_config
   * lines (a Postern node: TrustedUserCAKeys, AuthorizedPrincipalsCommand, HostCertificate).
   */
  static async start(opts: { configure?: (hostKeyPub: string, dir: string) => Promise<string[]>; port?: number } = {}): Promise<Sshd> {
    const dir = tempDir('postern-sshd-');
    const port = opts.port ?? (await freePort());
    const key = (name: string) => {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)]);
      return join(dir, name);
    };
    const hostKey = key('host_key');
    const userKey = key('user_key');
    execFileSync('cp', [`${userKey}.pub`, join(dir, 'authorized_keys')]);
    mkdirSync('/run/sshd', { recursive: true }); // privilege separation needs it to exist
    const extra = opts.configure ? await opts.configure(`${hostKey}.pub`, dir) : [];
    writeFileSync(
      join(dir, 'sshd_config'),
      [
        ...extra,
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        'StrictModes no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        'UsePAM no',
        'Subsystem sftp internal-sftp',
      ].join('\n') + '\n',
    );
    const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    await waitUntilBound(child, port, 'sshd', () => stderr);
    return new Sshd(child, port, dir, userKey);
  }

  /** ssh options for a non-interactive client with this server's user key (host key checks off: tests, not trust). */
  sshArgs(proxyCommand: string): string[] {
    return ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-i', this.userKey, '-o', `ProxyCommand=${proxyCommand}`];
  }

  stop(): Promise<void> {
    return stopProcess(this.child, 'SIGTERM');
  }
}
