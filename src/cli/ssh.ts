import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { callApi, connectionError, connectToProxy } from '../client/api-client.js';
import { tunnelLost } from '../client/connect-tunnel.js';
import { profileEndpoint } from '../client/login.js';
import { ProfileStore, type LoadedProfile } from '../client/profile-store.js';
import { lastSshAcceptance, recordSshAcceptance, type SshAcceptance } from '../client/ssh-acceptance.js';
import { OneShotAgent } from '../client/ssh-agent.js';
import { PosternError } from '../errors/postern-error.js';
import { formatHostPort } from '../net/addr.js';
import { newSshKeyPair } from '../pki/ssh.js';
import { readStatus } from '../wire/stream-status.js';
import type { NodeList } from '../wire/api.js';
import { alpnOf } from '../wire/protocols.js';
import { warnAboutPermissions } from './login.js';
import { formatOption, labelText, print, table, withLabels, type Format } from './output.js';


/** The command line that runs this very CLI (for ProxyCommand, which runs outside npm's PATH). */
function selfCommand(): string {
  return `"${process.execPath}" "${realpathSync(process.argv[1]!)}"`;
}

/** Where `postern proxy ssh` serves the one-connection agent that plain ssh finds via IdentityAgent (same %r@%h:%p). */
function agentSocket(store: ProfileStore, loginAtHostPort: string): string {
  return join(store.home, 'agent', `${loginAtHostPort}.sock`);
}

/** The node a host name names: `web-1.CLUSTER` → web-1; anything else is taken as the node name. */
function nodeOf(host: string, cluster: string): string {
  const suffix = `.${cluster}`;
  return host.endsWith(suffix) ? host.slice(0, -suffix.length) : host;
}

/** The ssh options that route a host of this cluster through Postern, for the command line and for ssh_config. */
function sshOptions(store: ProfileStore, profile: LoadedProfile): Record<string, string> {
  return {
    ProxyCommand: `${selfCommand()} proxy ssh --proxy=${profile.proxy} %r@%h:%p`,
    IdentityAgent: join(store.home, 'agent', '%r@%h:%p.sock'),
    UserKnownHostsFile: join(profile.dir, 'ssh', 'known_hosts'),
    StrictHostKeyChecking: 'yes',
  };
}

/** What ssh says when its ProxyCommand ends before the SSH handshake (after Postern has said why). */
const CLOSED_BEFORE_HANDSHAKE = /^(kex_exchange_identification: .*|Connection closed by UNKNOWN port \d+)\r?$/;

export function registerSsh(program: Command): void {
  program
    .command('ls')
    .argument('[labels...]', 'only nodes with these labels, as key=value')
    .description('List the SSH nodes you may log in to, with their labels and the logins you may use on each.')
    .option('--proxy <host:port>', 'use the profile for this proxy (default: the current one)')
    .addOption(formatOption())
    .action(async (labels: string[], opts: { proxy?: string; format: Format }) => {
      const store = new ProfileStore();
      warnAboutPermissions(store);
      const { nodes } = await callApi<NodeList>(profileEndpoint(store, opts.proxy), 'GET', '/webapi/nodes');
      const shown = nodes.filter(withLabels(labels));
      print(opts.format, shown, () =>
        table(['NAME', 'LABELS', 'LOGINS', 'DESCRIPTION'], shown.map((n) => [n.name, labelText(n.labels), n.logins.join(', '), n.description]), '(no nodes you may log in to are online)'),
      );
    });

  program
    .command('ssh')
    .usage('[--proxy HOST:PORT] [ssh options] [login@]node [command...]')
    .argument('<args...>', 'ssh options (e.g. -L 8080:localhost:80, -D 1080, -t), then [login@]node, then an optional command')
    .description(
      'Log in to a node with your own OpenSSH client: the connection goes through the proxy, with a certificate issued for ' +
        'exactly this login on this node. Options before the node are passed to ssh (port forwarding -L, -R, -D; -t; -v …).',
    )
    .option('--proxy <host:port>', 'use the profile for this proxy (default: the current one)')
    .allowUnknownOption(true)
    .passThroughOptions(true)
    .action(async (args: string[], opts: { proxy?: string }) => {
      const { options: passed, target, command } = splitSshArgs(args);
      const store = new ProfileStore();
      warnAboutPermissions(store);
      profileEndpoint(store, opts.proxy); // says "run postern login" when the certificate has expired
      const profile = store.resolve(opts.proxy);
      const [login, node] = target.includes('@') ? target.split('@', 2) : [profile.logins[0], target];
      if (!login) throw new PosternError('USAGE', `which login? none is allowed for you by default; use LOGIN@${target} (postern ls shows your logins)`);
      const sshArgs = [...Object.entries(sshOptions(store, profile)).flatMap(([k, v]) => ['-o', `${k}=${v}`]), ...passed, `${login}@${node}.${profile.cluster}`, ...command];
      const child = spawn('ssh', sshArgs, { stdio: ['inherit', 'inherit', 'pipe'] });
      let stderr = ''; // the last few KiB, for the diagnosis below
      let refusedByPostern = false;
      child.stderr!.on('data', (d: Buffer) => {
        let text = d.toString();
        // Once the ProxyCommand (postern proxy ssh) has said why it refused, ssh's own lines about
        // the connection closing before its handshake only bury the reason: leave them out.
        refusedByPostern ||= /^postern: /m.test(text);
        if (refusedByPostern) text = text.split('\n').filter((line) => !CLOSED_BEFORE_HANDSHAKE.test(line)).join('\n');
        stderr = (stderr + text).slice(-4096);
        process.stderr.write(text);
      });
      child.once('error', (err) => {
        process.stderr.write(`postern: cannot run ssh (${err.message}); install the OpenSSH client\n`);
        process.exit(69);
      });
      const [code] = (await once(child, 'exit')) as [number | null];
      const why = code === 255 ? sshFailure(stderr, node!, login, lastSshAcceptance(profile.dir, node!)) : undefined;
      if (why) process.stderr.write(`postern: ${why}\n`);
      process.exit(code ?? 1);
    });

  const proxy = program.commands.find((c) => c.name() === 'proxy') ?? program.command('proxy');
  proxy
    .command('ssh')
    .argument('<login@host:port>', 'what OpenSSH passes as %r@%h:%p')
    .description('OpenSSH ProxyCommand: carry one SSH connection to a node through the proxy, and serve its per-connection certificate to ssh (IdentityAgent).')
    .option('--proxy <host:port>', 'use the profile for this proxy (default: the current one)')
    .action(async (spec: string, opts: { proxy?: string }) => {
      const match = /^([^@]+)@(.+):(\d+)$/.exec(spec);
      if (!match) throw new PosternError('USAGE', `"${spec}" is not LOGIN@HOST:PORT; use it as ProxyCommand postern proxy ssh %r@%h:%p`);
      const [, login, host] = match as unknown as [string, string, string];
      const store = new ProfileStore();
      const endpoint = profileEndpoint(store, opts.proxy);
      const profile = store.resolve(opts.proxy);
      const node = nodeOf(host, profile.cluster);
      // The agent listens first: ssh may ask it as soon as the SSH handshake is done.
      const agent = new OneShotAgent(agentSocket(store, spec), () => recordSshAcceptance(profile.dir, node, login));
      await agent.listen();
      const key = newSshKeyPair();
      const socket = connectToProxy(endpoint, { ALPNProtocols: [alpnOf('ssh')] });
      try {
        await once(socket, 'secureConnect');
        if (socket.alpnProtocol !== alpnOf('ssh')) throw new PosternError('PROXY_UNREACHABLE', `the proxy at ${formatHostPort(endpoint.proxy)} does not serve SSH (${alpnOf('ssh')})`);
        socket.write(JSON.stringify({ node, login, public_key: key.publicLine }) + '\n');
        const status = await readStatus(socket);
        agent.set({ certificate: String(status.certificate), privateKey: key.privateKey });
      } catch (err) {
        agent.close();
        socket.destroy();
        throw err instanceof PosternError ? err : connectionError(err as NodeJS.ErrnoException, formatHostPort(endpoint.proxy));
      }
      process.stdin.pipe(socket);
      socket.pipe(process.stdout);
      try {
        await once(socket, 'close');
      } catch (err) {
        throw tunnelLost(err as NodeJS.ErrnoException, `node ${node}`);
      } finally {
        agent.close();
      }
      process.exit(0);
    });

  program
    .command('config')
    .description('Print an ssh_config block that sends every node of the current cluster through Postern, so plain ssh, scp, sftp, rsync and git work; append it to ~/.ssh/config.')
    .option('--proxy <host:port>', 'use the profile for this proxy (default: the current one)')
    .action((opts: { proxy?: string }) => {
      const store = new ProfileStore();
      const profile = store.resolve(opts.proxy);
      const options = sshOptions(store, profile);
      const knownHosts = join(profile.dir, 'ssh', 'known_hosts');
      process.stdout.write(
        `# Postern: nodes of cluster ${profile.cluster}, through ${profile.proxy} (postern config)\n` +
          `# ssh LOGIN@NODE.${profile.cluster}; host keys are checked against the cluster's CA in ${knownHosts}:\n` +
          `#   ${readKnownHosts(knownHosts)}\n` +
          `Host *.${profile.cluster}\n` +
          Object.entries(options)
            .map(([k, v]) => `    ${k} ${v.includes(' ') && !v.startsWith('"') ? `"${v}"` : v}`)
            .join('\n') +
          '\n',
      );
    });
}

function readKnownHosts(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '(missing: run postern login again)';
  }
}

/**
 * Why ssh failed on its own (exit 255) after Postern let the connection through, from ssh's stderr,
 * and what to do; undefined when ssh's own words are all there is to say.
 */
export function sshFailure(stderr: string, node: string, login: string, accepted: SshAcceptance | undefined): string | undefined {
  const signHost = `run the steps printed by \`postern ctl auth sign-host --host=${node} --key=…\` on ${node}`;
  if (/Host key verification failed/.test(stderr)) {
    return `${node}'s host key is not signed by the cluster's host CA, so ssh cannot tell it is really ${node} and stopped before logging in: ${signHost} (HostCertificate)`;
  }
  if (!/Permission denied \(publickey/.test(stderr)) return undefined;
  // sshd answers a missing user and an untrusted CA alike; only a node that took a Postern certificate before is known to trust the CA.
  const refused = `${node}'s sshd refused the login ${login}, which Postern allowed`;
  const noUser = `there is no user ${login} on ${node}, or its sshd does not allow ${login} (AllowUsers, DenyUsers, PermitRootLogin)`;
  if (accepted) {
    const when = `${accepted.at.slice(0, 16).replace('T', ' ')} UTC`;
    return `${refused}: ${noUser}. It is not Postern's CA: ${node} accepted a Postern certificate for ${accepted.login} at ${when}. Use a login that exists there (\`postern ls\` lists yours), or ask its administrator to add ${login}`;
  }
  return `${refused}: either ${noUser}, or its sshd does not trust Postern's user CA. If no login works on ${node}, ${signHost} (TrustedUserCAKeys and AuthorizedPrincipalsCommand /bin/echo %u@${node})`;
}

/** ssh's options that take a value (ssh(1)): their value is the next argument unless attached. */
const SSH_VALUE_OPTIONS = new Set('BbcDEeFIiJLlmOoPpQRSWw'.split(''));

/** Splits `postern ssh` arguments as ssh would: options, then the destination, then the command. */
export function splitSshArgs(args: string[]): { options: string[]; target: string; command: string[] } {
  const options: string[] = [];
  let i = 0;
  for (; i < args.length && args[i]!.startsWith('-') && args[i] !== '--'; i++) {
    const arg = args[i]!;
    options.push(arg);
    // As getopt reads a cluster like -vtL: the first letter that takes a value takes the rest of
    // the argument (-L8080:x:80) or, when nothing is left, the next argument (-L 8080:x:80).
    for (let j = 1; j < arg.length; j++) {
      if (!SSH_VALUE_OPTIONS.has(arg[j]!)) continue;
      if (j === arg.length - 1) options.push(args[++i] ?? '');
      break;
    }
  }
  if (args[i] === '--') i++;
  const target = args[i];
  if (!target) throw new PosternError('USAGE', 'which node? postern ssh [ssh options] [login@]node [command]');
  return { options, target, command: args.slice(i + 1) };
}
