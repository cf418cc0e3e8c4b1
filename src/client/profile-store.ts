import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { PosternError } from '../errors/postern-error.js';
import { parseHostPort, type HostPort } from '../net/addr.js';
import { writeSecretFile } from '../storage/secret-file.js';

/**
 * How to log in for the first time, for messages that cannot know the cluster: the pin is needed
 * unless the proxy's certificate is publicly trusted.
 */
export const LOGIN_HINT = '`postern login --proxy=HOST:PORT --user=NAME --ca-pin=PIN` (PIN: the host CA pin `postern start` and `postern ctl status` print; leave --ca-pin out if the proxy has a publicly trusted certificate)';

/** What `postern login` leaves behind for one proxy. Secrets are in files beside it (key.pem). */
export interface Profile {
  /** host:port of the proxy. */
  proxy: string;
  user: string;
  cluster: string;
  roles: string[];
  logins: string[];
  traits: Record<string, string[]>;
  /** When the certificate expires (ISO 8601). */
  expires: string;
}

/** A profile with its credentials loaded. */
export interface LoadedProfile extends Profile {
  name: string;
  dir: string;
  keyPem: string;
  certPem: string;
  /** The CAs this profile trusts for the proxy: the cluster's host CA, plus any --ca-file given at login. */
  trustedPem: string;
}

/**
 * Profiles under `$POSTERN_HOME` (default `~/.postern`): one directory per proxy, and a `current`
 * file naming the one commands use by default. Directories are 0700 and every file 0600; the
 * private key never leaves this machine.
 */
export class ProfileStore {
  readonly home: string;

  constructor(home = process.env.POSTERN_HOME || join(homedir(), '.postern')) {
    this.home = home;
  }

  /** Profiles are named after their proxy: `postern.example.com` or `postern.localhost-3080`. */
  static nameFor(proxy: HostPort): string {
    return proxy.port === 443 ? proxy.host : `${proxy.host}-${proxy.port}`;
  }

  /** Warnings about files others can read (shown by commands, never fatal). */
  permissionWarnings(): string[] {
    const out: string[] = [];
    const check = (path: string, what: string) => {
      if (!existsSync(path)) return;
      const mode = statSync(path).mode & 0o777;
      if (mode & 0o077) out.push(`warning: ${what} ${path} is accessible by other users (mode ${mode.toString(8).padStart(4, '0')}); run: chmod ${statSync(path).isDirectory() ? 700 : 600} ${path}`);
    };
    check(this.home, 'the profile directory');
    for (const name of this.names()) check(join(this.home, 'profiles', name, 'key.pem'), 'the private key');
    return out;
  }

  names(): string[] {
    const dir = join(this.home, 'profiles');
    return existsSync(dir) ? readdirSync(dir).filter((n) => existsSync(join(dir, n, 'profile.json'))).sort() : [];
  }

  currentName(): string | undefined {
    const file = join(this.home, 'current');
    const name = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
    return name && this.names().includes(name) ? name : undefined;
  }

  setCurrent(name: string): void {
    if (!this.names().includes(name)) throw new PosternError('NOT_FOUND', `there is no profile "${name}"; see \`postern status\` for the profiles you have`);
    writeSecretFile(join(this.home, 'current'), name + '\n');
  }

  load(name: string): LoadedProfile {
    const dir = join(this.home, 'profiles', name);
    const read = (file: string) => readFileSync(join(dir, file), 'utf8');
    try {
      return { ...(JSON.parse(read('profile.json')) as Profile), name, dir, keyPem: read('key.pem'), certPem: read('cert.pem'), trustedPem: read('trusted-ca.pem') };
    } catch (err) {
      throw new PosternError('NOT_FOUND', `the profile in ${dir} is incomplete (${(err as Error).message}); run \`postern login\` again`);
    }
  }

  /**
   * The profile commands use: the one for `proxy` if given, else the one `$POSTERN_PROXY` names
   * (a shell of its own for one cluster: Connect's shell tabs set it), else the current one.
   */
  resolve(proxy = process.env.POSTERN_PROXY || undefined): LoadedProfile {
    const name = proxy ? ProfileStore.nameFor(mustParse(proxy)) : this.currentName();
    if (!name || !this.names().includes(name)) {
      throw new PosternError('UNAUTHENTICATED', `you are not logged in${proxy ? ` to ${proxy}` : ''}; run ${LOGIN_HINT.replace('HOST:PORT', proxy ?? 'HOST:PORT')}`);
    }
    return this.load(name);
  }

  /**
   * Saves a login. `ssh` is the login's OpenSSH identity: a key, its certificate (logins bound to
   * the nodes they are allowed on) and the cluster's @cert-authority line, in ssh/ of the profile.
   */
  save(profile: Profile, secrets: { keyPem: string; certPem: string; trustedPem: string; ssh?: { privateKey: string; certificate: string; knownHosts: string } }): string {
    const name = ProfileStore.nameFor(mustParse(profile.proxy));
    const dir = join(this.home, 'profiles', name);
    writeSecretFile(join(dir, 'key.pem'), secrets.keyPem);
    writeSecretFile(join(dir, 'cert.pem'), secrets.certPem);
    writeSecretFile(join(dir, 'trusted-ca.pem'), secrets.trustedPem);
    if (secrets.ssh) {
      writeSecretFile(join(dir, 'ssh', 'id_ed25519'), secrets.ssh.privateKey);
      writeSecretFile(join(dir, 'ssh', 'id_ed25519-cert.pub'), secrets.ssh.certificate + '\n');
      writeSecretFile(join(dir, 'ssh', 'known_hosts'), secrets.ssh.knownHosts + '\n');
    }
    writeSecretFile(join(dir, 'profile.json'), JSON.stringify(profile, null, 2) + '\n');
    this.setCurrent(name);
    return name;
  }

  remove(name: string): void {
    rmSync(join(this.home, 'profiles', name), { recursive: true, force: true });
    if (existsSync(join(this.home, 'current')) && readFileSync(join(this.home, 'current'), 'utf8').trim() === name) rmSync(join(this.home, 'current'));
  }

}

export function mustParse(proxy: string): HostPort {
  const parsed = parseHostPort(proxy, 443);
  if (typeof parsed === 'string') throw new PosternError('USAGE', `--proxy: ${parsed}`);
  return parsed;
}
