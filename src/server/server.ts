import { join } from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { ensureClusterState, CLUSTER_KEYS } from '../auth/cluster-state.js';
import type { PosternConfig } from '../config/schema.js';
import { DiagServer } from '../diag/diag-server.js';
import type { Logger } from '../log/logger.js';
import { formatHostPort, type HostPort } from '../net/addr.js';
import { ProxyListener } from '../proxy/listener.js';
import { ProxyMetrics } from '../proxy/metrics.js';
import { Router } from '../proxy/router.js';
import { pingRoute } from '../proxy/web/ping.js';
import { WebHandler } from '../proxy/web/web-handler.js';
import { SqliteBackend } from '../storage/sqlite/sqlite-backend.js';
import type { Backend } from '../storage/backend.js';
import { VERSION } from '../version.js';
import { issueProxyTls, loadProxyTls, type ProxyTls } from './proxy-certificate.js';

export interface RunningServer {
  clusterName: string;
  publicUrl: string;
  proxyAddr: HostPort;
  diagAddr?: HostPort;
  pins: { host: string; user: string };
  tlsSource: string;
  backend: Backend;
  close(): Promise<void>;
}

/** The path of the embedded store inside a data directory. */
export function storePath(dataDir: string): string {
  return join(dataDir, 'postern.db');
}

/**
 * Starts auth + proxy in this process: storage, certificate authorities, the proxy's certificate,
 * the one TLS listener with its protocol handlers, and diagnostics. Everything started is stopped
 * by close(), in reverse order.
 */
export async function startServer(config: PosternConfig, log: Logger): Promise<RunningServer> {
  const cleanups: (() => Promise<void> | void)[] = [];
  let closing: Promise<void> | undefined;
  // Stops everything started, in reverse order; calling it again waits for the first call.
  const close = () =>
    (closing ??= (async () => {
      for (const fn of [...cleanups].reverse()) await fn();
    })());
  try {
    const backend = new SqliteBackend({ path: storePath(config.data_dir) });
    cleanups.push(() => backend.close());
    const cluster = await ensureClusterState(backend, config.cluster_name);
    const hostCa = cluster.authorities.host;

    const publicHost = config.proxy.public_addr.host;
    const publicUrl = `https://${formatHostPort(config.proxy.public_addr)}`;
    const tlsFor = (): Promise<ProxyTls> =>
      config.proxy.certificates.length > 0 ? Promise.resolve(loadProxyTls(config.proxy.certificates)) : issueProxyTls(hostCa, publicHost);
    let tls = await tlsFor();

    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'postern_' });
    const router = new Router();
    const web = new WebHandler(log.child({ component: 'web' }));
    web.route('GET', '/webapi/ping', pingRoute({ clusterName: cluster.clusterName, publicAddr: formatHostPort(config.proxy.public_addr), version: VERSION, protocols: () => router.served() }));
    router.register('web', web);
    cleanups.push(() => web.close());

    const listener = new ProxyListener({
      router,
      tls: tls.options,
      useProxyProtocol: config.proxy.use_proxy_protocol,
      handshakeTimeoutMs: config.proxy.handshake_timeout,
      maxConnections: config.proxy.max_connections,
      publicUrl,
      log: log.child({ component: 'proxy' }),
      metrics: new ProxyMetrics(registry),
    });
    const proxyAddr = await listener.listen(config.proxy.listen_addr);
    cleanups.push(() => listener.close(2000));
    cleanups.push(
      keepRenewed(tls, tlsFor, listener, log.child({ component: 'proxy' }), (fresh) => {
        tls = fresh;
      }),
    );

    let diagAddr: HostPort | undefined;
    if (config.diag_addr) {
      const diag = new DiagServer(
        registry,
        {
          storage: async () => ((await backend.get(CLUSTER_KEYS.name)) ? undefined : 'the cluster record is missing from storage'),
          authorities: () => expiryProblem({ 'host CA': cluster.authorities.host.cert.notAfter, 'user CA': cluster.authorities.user.cert.notAfter, 'proxy certificate': tls.notAfter }),
          listener: () => (listener.listening ? undefined : 'the proxy listener is not listening'),
        },
        log.child({ component: 'diag' }),
      );
      diagAddr = await diag.listen(config.diag_addr);
      cleanups.push(() => diag.close());
    }

    return {
      clusterName: cluster.clusterName,
      publicUrl,
      proxyAddr,
      ...(diagAddr ? { diagAddr } : {}),
      pins: { host: hostCa.pin, user: cluster.authorities.user.pin },
      tlsSource: tls.source,
      backend,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Re-issues the proxy certificate before it expires, for new connections (open ones keep theirs).
 * Returns the function that stops it.
 */
function keepRenewed(first: ProxyTls, next: () => Promise<ProxyTls>, listener: ProxyListener, log: Logger, onRenewed: (tls: ProxyTls) => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const plan = (at: Date) => {
    timer = setTimeout(() => {
      next()
        .then((fresh) => {
          listener.setSecureContext(fresh.options);
          onRenewed(fresh);
          log.info('renewed the proxy certificate', { next_renewal: fresh.renewAt?.toISOString() });
          if (fresh.renewAt) plan(fresh.renewAt);
        })
        .catch((err: unknown) => {
          log.error('renewing the proxy certificate failed; retrying in a minute', { err });
          plan(new Date(Date.now() + 60_000));
        });
    }, Math.max(0, at.getTime() - Date.now()));
    timer.unref();
  };
  if (first.renewAt) plan(first.renewAt);
  return () => clearTimeout(timer);
}

/** Readiness problem for certificates that have expired (or undefined when all are valid). */
function expiryProblem(notAfter: Record<string, Date>): string | undefined {
  const now = Date.now();
  const expired = Object.entries(notAfter).filter(([, date]) => date.getTime() <= now);
  return expired.length ? expired.map(([name, date]) => `the ${name} expired at ${date.toISOString()}`).join('; ') : undefined;
}
