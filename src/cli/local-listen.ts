import type { Command } from 'commander';
import { PosternError } from '../errors/postern-error.js';
import { parseHostPort, type HostPort } from '../net/addr.js';

export interface ListenOptions {
  port?: number;
  listen: string;
}

/** `--port` and `--listen`, for the commands that start a local listener (`postern proxy …`). */
export function listenOptions(cmd: Command): Command {
  return cmd.option('--port <port>', 'the local port (default: a free one, printed)', (v) => Number(v)).option('--listen <host>', 'the local address to listen on', '127.0.0.1');
}

/** Where to listen, from those options; a USAGE error that names the flags otherwise. */
export function listenAddress(opts: ListenOptions): HostPort {
  const addr = parseHostPort(`${opts.listen}:${opts.port ?? 0}`);
  if (typeof addr === 'string') throw new PosternError('USAGE', `--listen/--port: ${addr}`);
  return addr;
}

/** Keeps a local listener until Ctrl-C or SIGTERM, then closes it and exits. */
export function serveUntilStopped(local: { close(): Promise<void> }): void {
  const stop = () => void local.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
