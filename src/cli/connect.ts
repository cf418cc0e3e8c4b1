import type { Command } from 'commander';
import { canOpenBrowser, openBrowser } from '../client/browser-login.js';
import { ProfileStore } from '../client/profile-store.js';
import { startDaemon } from '../connect/daemon.js';
import { PosternError } from '../errors/postern-error.js';
import { createLogger } from '../log/logger.js';

interface ConnectFlags {
  port?: string;
  browser: boolean;
  browserCmd?: string;
  insecure?: boolean;
}

export function registerConnect(program: Command): void {
  program
    .command('connect')
    .summary('Postern Connect: your clusters and what you may reach, in a local page')
    .description(
      'Starts the Postern Connect daemon on this machine (127.0.0.1 only) and opens its page in the browser: ' +
        'your clusters (the same profiles as `postern login`: logging in here logs in the CLI, and the other way round), ' +
        'adding a cluster by address and CA pin, logging in and out, and everything each cluster lets you reach.\n\n' +
        "The page's address carries a secret for this launch (after #, which browsers never send); the page trades it " +
        'for a cookie, and the daemon answers nothing else. Runs until Ctrl-C.',
    )
    .option('--port <port>', 'listen on this loopback port (default: a free one)')
    .option('--no-browser', 'print the address instead of opening the browser')
    .option('--browser-cmd <cmd>', 'the program that opens the page (default: $BROWSER, xdg-open or open)')
    .option('--insecure', "do not check the proxies' certificates (for a test cluster; the page shows a banner)")
    .addHelpText('after', '\nExamples:\n  postern connect\n  postern connect --no-browser --port 4040')
    .action(async (opts: ConnectFlags) => {
      const port = opts.port === undefined ? 0 : Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new PosternError('USAGE', `--port: "${opts.port}" is not a port number (0-65535)`);
      const log = createLogger('info', 'auto');
      const daemon = await startDaemon({ port, insecure: opts.insecure === true, store: new ProfileStore(), log });
      const open = opts.browser && canOpenBrowser(opts.browserCmd);
      process.stdout.write(`Postern Connect is running${opts.insecure ? ' (server certificates are NOT checked: --insecure)' : ''}.\n${open ? 'Opening' : 'Open'} this address in your browser (it is for you only: it carries this launch's secret):\n\n  ${daemon.url}\n\nStop it with Ctrl-C.\n`);
      if (open) openBrowser(daemon.url, opts.browserCmd);
      await new Promise<void>((resolve) => {
        for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
      });
      await daemon.close();
    });
}
