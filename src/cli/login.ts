import { Command, Option } from 'commander';
import { userInfo } from 'node:os';
import { ask, readStdin } from '../client/prompt.js';
import { login } from '../client/login.js';
import { LOGIN_HINT, ProfileStore, type LoadedProfile } from '../client/profile-store.js';
import { PosternError } from '../errors/postern-error.js';
import { durationArg, untilText } from './parse.js';

/** Trust flags shared by every command that makes first contact with a proxy. */
export function addTrustFlags(cmd: Command): Command {
  return cmd
    .option('--ca-pin <sha256:hex>', "trust the proxy if its cluster's host CA has this pin (from `postern start` or `postern ctl status`)")
    .option('--ca-file <file>', 'trust the proxy if a CA in this PEM file vouches for it')
    .option('--insecure', 'do not verify the proxy at all (for tests; anyone on the path could impersonate it)');
}

/** Prints the profile directory's permission problems to stderr (never fatal). */
export function warnAboutPermissions(store: ProfileStore): void {
  for (const w of store.permissionWarnings()) process.stderr.write(w + '\n');
}

export function registerLogin(program: Command): void {
  addTrustFlags(
    program
      .command('login')
      .summary('log in to a cluster and get a short-lived certificate')
      .description(
        'Log in to a Postern proxy with your password and one-time code. A key pair is made on this machine; ' +
          'only its public half is sent. The certificate and key are saved as a profile under ~/.postern ' +
          '(POSTERN_HOME overrides), which becomes the current profile.',
      )
      .option('--proxy <host:port>', 'the proxy to log in to (default: the current profile\'s)')
      .option('--user <name>', 'your Postern user name (default: the current profile\'s, else your OS user name)')
      .option('--password-stdin', 'read the password from standard input instead of asking')
      .option('--otp <code>', 'the one-time code from your authenticator app (asked for when needed and not given)')
      .addOption(new Option('--ttl <duration>', 'ask for a certificate this long-lived, e.g. 1h (the cluster and your roles may cap it)').argParser(durationArg(60_000, 7 * 86_400_000))),
  ).action(async (opts: { proxy?: string; user?: string; passwordStdin?: boolean; otp?: string; ttl?: number; caPin?: string; caFile?: string; insecure?: boolean }) => {
    const store = new ProfileStore();
    warnAboutPermissions(store);
    const current = store.currentName() ? store.load(store.currentName()!) : undefined;
    const proxy = opts.proxy ?? current?.proxy;
    if (!proxy) throw new PosternError('USAGE', 'which proxy? pass --proxy=HOST:PORT (e.g. --proxy=postern.example.com:443)');
    const user = opts.user ?? (current && current.proxy === proxy ? current.user : userInfo().username);
    const password = opts.passwordStdin ? await readStdin() : await ask(`Password for ${user}: `, { hidden: true, flag: '--password-stdin' });
    if (opts.insecure) process.stderr.write('warning: --insecure: the proxy is not verified; use --ca-pin outside tests\n');
    const attempt = (otp?: string) =>
      login({ proxy, user, password, ...(otp ? { otp } : {}), ...(opts.ttl ? { ttlMs: opts.ttl } : {}), ...pick(opts, 'caPin', 'caFile', 'insecure') }, store);
    let result;
    try {
      result = await attempt(opts.otp);
    } catch (err) {
      // The cluster wants a code the user has not given yet: ask once, on a terminal.
      if (!(err instanceof PosternError) || err.code !== 'OTP_REQUIRED' || !process.stdin.isTTY || opts.passwordStdin) throw err;
      result = await attempt(await ask('One-time code: ', { flag: '--otp' }));
    }
    process.stdout.write(`Logged in as ${result.profile.user} to ${result.profile.proxy} (cluster ${result.profile.cluster}).\n\n`);
    process.stdout.write(describeProfile(store.load(result.name), true));
  });

  program
    .command('status')
    .summary('show who you are logged in as, where, and until when')
    .description('Show your profiles: who you are logged in as, your roles and logins, and when each certificate expires.')
    .addOption(new Option('--format <format>', 'text or json').choices(['text', 'json']).default('text'))
    .action((opts: { format: string }) => {
      const store = new ProfileStore();
      warnAboutPermissions(store);
      const current = store.currentName();
      const profiles = store.names().map((n) => store.load(n));
      if (opts.format === 'json') {
        process.stdout.write(JSON.stringify(profiles.map(({ keyPem: _k, certPem: _c, trustedPem: _t, dir: _d, ...p }) => ({ ...p, current: p.name === current, expired: Date.parse(p.expires) <= Date.now() })), null, 2) + '\n');
        return;
      }
      if (profiles.length === 0) {
        process.stdout.write(`Not logged in. Log in with: ${LOGIN_HINT}\n`);
        return;
      }
      process.stdout.write(profiles.map((p) => describeProfile(p, p.name === current)).join('\n'));
    });

  program
    .command('logout')
    .summary('delete your certificate and key for the current proxy')
    .description('Delete the current profile\'s certificate and key from this machine (or every profile\'s with --all).')
    .option('--all', 'log out of every proxy')
    .action((opts: { all?: boolean }) => {
      const store = new ProfileStore();
      const names = opts.all ? store.names() : [store.currentName()].filter((n): n is string => !!n);
      if (names.length === 0) {
        process.stdout.write('Not logged in.\n');
        return;
      }
      for (const name of names) {
        const p = store.load(name);
        store.remove(name);
        process.stdout.write(`Logged out ${p.user} from ${p.proxy}.\n`);
      }
    });

  program
    .command('switch')
    .argument('<proxy>', 'the proxy (host:port) or profile name to make current')
    .summary('make another profile the current one')
    .description('Make another profile the current one (see `postern status` for the list).')
    .action((proxy: string) => {
      const store = new ProfileStore();
      const name = store.names().find((n) => n === proxy || store.load(n).proxy === proxy);
      if (!name) throw new PosternError('NOT_FOUND', `no profile for "${proxy}"; log in with \`postern login --proxy=${proxy}\``);
      store.setCurrent(name);
      process.stdout.write(describeProfile(store.load(name), true));
    });
}

function describeProfile(p: LoadedProfile, current: boolean): string {
  const expired = Date.parse(p.expires) <= Date.now();
  const validity = `${p.expires} [${untilText(p.expires)}${expired ? ': run postern login' : ''}]`;
  return (
    `${current ? '>' : ' '} Profile:      ${p.name}\n` +
    `  Proxy:        https://${p.proxy}\n` +
    `  Logged in as: ${p.user}\n` +
    `  Cluster:      ${p.cluster}\n` +
    `  Roles:        ${p.roles.join(', ') || '(none)'}\n` +
    `  Logins:       ${p.logins.join(', ') || '(none)'}\n` +
    `  Valid until:  ${validity}\n`
  );
}

function pick<T extends object, K extends keyof T>(obj: T, ...keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}
