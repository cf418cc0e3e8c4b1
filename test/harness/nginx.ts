import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, stopProcess, waitUntilBound } from './ports.js';
import { tempDir } from './temp.js';

/** Where Debian keeps nginx's dynamic stream module (loaded only when nginx was built with it dynamic). */
const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

/** A real nginx running in the foreground with its own prefix, config and logs in a temp dir. */
export class Nginx {
  private constructor(
    private readonly child: ChildProcess,
    readonly dir: string,
    readonly port: number,
  ) {}

  /**
   * Starts nginx with a `stream { … }` block; `server` is the body of its one server, which
   * listens on a free port (`listenSuffix` adds e.g. " ssl").
   */
  static stream(server: (port: number) => string, listenSuffix = ''): Promise<Nginx> {
    return Nginx.start((dir, port) => `stream {
  log_format tcp '$remote_addr -> $upstream_addr [$status] bytes_sent=$bytes_sent bytes_received=$bytes_received';
  access_log ${join(dir, 'access.log')} tcp;
  server {
    listen 127.0.0.1:${port}${listenSuffix};
    ${server(port)}
  }
}`);
  }

  /**
   * Starts nginx with an `http { … }` block whose one server listens on a free port with
   * `listen`'s suffix (" ssl"); `httpLevel` adds directives beside it (an upstream block).
   */
  static http(server: (port: number) => string, listenSuffix = '', httpLevel = ''): Promise<Nginx> {
    return Nginx.start((dir, port) => `http {
  access_log off;
  ${httpLevel}
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  server {
    listen 127.0.0.1:${port}${listenSuffix};
    ${server(port)}
  }
}`);
  }

  private static async start(block: (dir: string, port: number) => string): Promise<Nginx> {
    const dir = tempDir('postern-nginx-');
    const port = await freePort();
    const conf = `
${existsSync(STREAM_MODULE) ? `load_module ${STREAM_MODULE};` : ''}
daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} info;
events { worker_connections 1024; }
${block(dir, port)}`;
    writeFileSync(join(dir, 'nginx.conf'), conf);
    const child = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitUntilBound(child, port, 'nginx', () => stderr);
    return new Nginx(child, dir, port);
  }

  stop(): Promise<void> {
    return stopProcess(this.child, 'SIGQUIT');
  }
}
