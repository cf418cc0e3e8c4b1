import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { PosternError } from '../errors/postern-error.js';
import type { Logger } from '../log/logger.js';
import { formatHostPort, type HostPort } from '../net/addr.js';

export type ReadinessCheck = () => Promise<string | undefined> | string | undefined;

/**
 * The diagnostics listener (plain HTTP, meant for loopback or a private network):
 * `/healthz` says the process runs, `/readyz` runs every readiness check (each returns undefined
 * when fine, or what is wrong), `/metrics` is Prometheus text (all of it, or `?name=` ones).
 */
export class DiagServer {
  private readonly server: Server;

  constructor(
    private readonly registry: Registry,
    private readonly checks: Record<string, ReadinessCheck>,
    private readonly log: Logger,
  ) {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://diag');
      this.serve(req.method ?? 'GET', url.pathname, url.searchParams)
        .then(({ status, type, body }) => {
          res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
        })
        .catch((err: unknown) => {
          this.log.error('diagnostics request failed', { err });
          res.writeHead(500).end();
        });
    });
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 10_000;
    this.server.maxConnections = 64;
  }

  async listen(addr: HostPort): Promise<HostPort> {
    await new Promise<void>((resolve, reject) => {
      const failed = (err: Error) => reject(new PosternError('LISTEN_FAILED', `cannot listen on ${formatHostPort(addr)} (--diag-addr): ${err.message}`, { cause: err }));
      this.server.once('error', failed);
      this.server.listen(addr.port, addr.host, () => {
        this.server.off('error', failed);
        this.server.on('error', (err) => this.log.error('diagnostics listener error', { err }));
        resolve();
      });
    });
    const bound = this.server.address() as { address: string; port: number };
    return { host: bound.address, port: bound.port };
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async serve(method: string, path: string, query: URLSearchParams): Promise<{ status: number; type: string; body: string }> {
    if (method !== 'GET' && method !== 'HEAD') return text(405, 'use GET\n');
    switch (path) {
      case '/healthz':
        return text(200, 'ok\n');
      case '/readyz': {
        const results: Record<string, string> = {};
        let ready = true;
        for (const [name, check] of Object.entries(this.checks)) {
          let problem: string | undefined;
          try {
            problem = await check();
          } catch (err) {
            problem = (err as Error).message;
          }
          results[name] = problem ?? 'ok';
          if (problem) ready = false;
        }
        return { status: ready ? 200 : 503, type: 'application/json', body: JSON.stringify({ ready, checks: results }) + '\n' };
      }
      case '/metrics':
        return this.metrics(query.getAll('name'));
      default:
        return text(404, 'not found; try /healthz, /readyz or /metrics\n');
    }
  }

  /**
   * All metrics, or only those named (`/metrics?name=postern_tunnels_connected&name=…`): a probe
   * that polls one figure often need not pay for collecting every other one (the process
   * metrics read /proc/self/fd, which holds a descriptor per connection).
   */
  private async metrics(names: string[]): Promise<{ status: number; type: string; body: string }> {
    if (names.length === 0) return { status: 200, type: this.registry.contentType, body: await this.registry.metrics() };
    const unknown = names.filter((name) => !this.registry.getSingleMetric(name));
    if (unknown.length) return text(404, `no metric named ${unknown.join(', ')}; /metrics lists them all\n`);
    const parts = await Promise.all(names.map((name) => this.registry.getSingleMetricAsString(name)));
    return { status: 200, type: this.registry.contentType, body: parts.join('\n') + '\n' };
  }
}

function text(status: number, body: string) {
  return { status, type: 'text/plain; charset=utf-8', body };
}
