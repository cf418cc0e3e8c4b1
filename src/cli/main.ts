#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { ERROR_CODES } from '../errors/codes.js';
import { toPosternError } from '../errors/postern-error.js';
import { VERSION } from '../version.js';
import { registerConfigure } from './configure.js';
import { registerApps } from './apps.js';
import { registerCtl } from './ctl.js';
import { registerLogin } from './login.js';
import { registerSsh } from './ssh.js';
import { registerStart } from './start.js';
import { registerTcp } from './tcp.js';

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

registerStart(program);
registerConfigure(program);
registerLogin(program);
registerApps(program);
registerTcp(program);
registerSsh(program);
registerCtl(program);
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
