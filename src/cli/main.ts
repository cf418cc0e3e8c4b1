#!/bin/sh
//bin/true; exec /usr/bin/env node --max-semi-space-size=4 "$0" "$@"
// The two lines above are for the shell: they start Node with NODE_FLAGS (cli/node-flags.ts),
// which a `#!/usr/bin/env node` line cannot pass everywhere (BusyBox env has no -S). To Node, the
// second line is a comment.
import { Command, CommanderError } from 'commander';
import { ERROR_CODES } from '../errors/codes.js';
import { toPosternError } from '../errors/postern-error.js';
import { VERSION } from '../version.js';

/**
 * Each command group's module, loaded only when it is needed: the server's modules (X.509,
 * SQLite) take a third of a second to load, and `postern proxy ssh` runs once per ssh
 * connection as its ProxyCommand. Help without a command loads them all.
 */
type Register = (program: Command) => void;
const GROUPS: Record<string, () => Promise<Register[]>> = {
  start: async () => [(await import('./start.js')).registerStart],
  configure: async () => [(await import('./configure.js')).registerConfigure],
  login: async () => [(await import('./login.js')).registerLogin],
  trust: async () => [(await import('./trust.js')).registerTrust],
  apps: async () => [(await import('./apps.js')).registerApps],
  tcp: async () => [(await import('./tcp.js')).registerTcp],
  ssh: async () => [(await import('./ssh.js')).registerSsh],
  db: async () => [(await import('./db.js')).registerDb],
  connect: async () => [(await import('./connect.js')).registerConnect],
  ctl: async () => [(await import('./ctl.js')).registerCtl],
};
/** The group that defines each command (`proxy` has subcommands in two groups). */
const GROUP_OF: Record<string, string[]> = {
  start: ['start'],
  configure: ['configure'],
  login: ['login'],
  status: ['login'],
  logout: ['login'],
  trust: ['trust'],
  switch: ['login'],
  apps: ['apps'],
  proxy: ['apps', 'ssh', 'db'],
  tcp: ['tcp'],
  ls: ['ssh'],
  ssh: ['ssh'],
  config: ['ssh'],
  db: ['db'],
  connect: ['connect'],
  ctl: ['ctl'],
};

// `postern … | head`: when the reader goes away, stop quietly instead of crashing on EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

const program = new Command('postern')
  .description(
    'Postern: an identity-aware access proxy. One TLS port for web apps, SSH, TCP services and databases, ' +
      'with short-lived certificates, roles and an audit log.',
  )
  .version(VERSION, '-v, --version', 'print the version')
  .showHelpAfterError('(run with --help for usage)')
  .showSuggestionAfterError(true)
  // Options of a command are its own: `postern ssh -L …` passes -L on to ssh.
  .enablePositionalOptions()
  .exitOverride();

const args = process.argv.slice(2);
const command = args.find((a) => !a.startsWith('-'));
const versionOnly = !command && args.some((a) => a === '-v' || a === '--version');
const groups = command && GROUP_OF[command] ? GROUP_OF[command] : versionOnly ? [] : Object.keys(GROUPS);
for (const group of groups) for (const register of await GROUPS[group]!()) register(program);
program.commands.forEach(function exitOverrideAll(cmd: Command): void {
  cmd.exitOverride();
  cmd.commands.forEach(exitOverrideAll);
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version exit 0; usage mistakes exit 64 (commander already printed the message).
    process.exit(err.exitCode === 0 ? 0 : ERROR_CODES.USAGE.exit);
  }
  const e = toPosternError(err);
  process.stderr.write(`postern: ${e.message}\n`);
  if (e.code === 'INTERNAL' && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(e.exitCode);
}
