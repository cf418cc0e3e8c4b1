import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, stopProcess, waitUntilBound } from './ports.js';
import { tempDir } from './temp.js';

/** A real HAProxy in TCP mode in front of one upstream or several (round robin), in the foreground with its own config. */
export class HAProxy {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  /** `serverOptions` go on each upstream's `server` line, e.g. `send-proxy-v2`. */
  static async tcp(upstreamPorts: number | number[], serverOptions: string): Promise<HAProxy> {
    const servers = [upstreamPorts].flat().map((port, i) => `  server postern${i + 1} 127.0.0.1:${port} ${serverOptions}`);
    const dir = tempDir('postern-haproxy-');
    const port = await freePort();
    writeFileSync(
      join(dir, 'haproxy.cfg'),
      `global
  maxconn 8192
defaults
  mode tcp
  # A connection refused by a server that just died is retried on another.
  retries 3
  option redispatch
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend edge
  bind 127.0.0.1:${port}
  default_backend postern
backend postern
  balance roundrobin
${servers.join('\n')}
`,
    );
    const child = spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitUntilBound(child, port, 'haproxy', () => stderr);
    return new HAProxy(child, port);
  }

  stop(): Promise<void> {
    return stopProcess(this.child, 'SIGTERM');
  }
}
