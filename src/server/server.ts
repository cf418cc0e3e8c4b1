import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { firstAdminInvite, type FirstAdminInvite } from '../admin/first-admin.js';
import { CLUSTER_KEYS } from '../auth/cluster-state.js';
import type { PosternConfig } from '../config/schema.js';
import { PosternError } from '../errors/postern-error.js';
import { DiagServer } from '../diag/diag-server.js';
import type { Logger } from '../log/logger.js';
import type { HostPort } from '../net/addr.js';
import { ProxyListener } from '../proxy/listener.js';
import { ProxyMetrics } from '../proxy/metrics.js';
import { Router } from '../proxy/router.js';
import type { Backend } from '../storage/backend.js';
import { PROTOCOLS } from '../wire/protocols.js';
import { AcmeCertificates } from './acme/acme-certificates.js';
import { AppCertificates } from './acme/app-certificates.js';
import { TlsAlpnChallenges } from './acme/tls-alpn-challenges.js';
import { Cleanups } from './cleanups.js';
import { startCore } from './core.js';
import { startDemo, type Demo } from './demo.js';
import { buildHandlers } from './handlers.js';
import { ProxyCertificates, proxyTlsOptions } from './proxy-certificate.js';

/** The longest a browser's first handshake for an app name waits for that name's ACME certificate. */
const APP_CERTIFICATE_HOLD_MS = 10_000;

export interface RunningServer {
  clusterName: string;
  publicUrl: string;
  proxyAddr: HostPort;
  diagAddr?: HostPort;
  pins: { host: string; user: string };
  tlsSource: string;
  /** The certificate comes from the cluster's own host CA: clients trust it by pin, browsers after `postern trust`. */
  ownCertificate: boolean;
  /** On a cluster nobody has set up yet: the first administrator's invite link. */
  firstAdmin?: FirstAdminInvite;
  /** With `demo`: what the demo agent serves, for the banner. */
  demo?: string[];
  backend: Backend;
  close(): Promise<void>;
}

/**
 * Starts auth + proxy in this process by wiring its components: the core (storage, CAs, the
 * access pipeline), the protocol handlers (one per row of the protocol table this version
 * serves), the one TLS listener with its certificate, and diagnostics. Everything started is
 * stopped by close(), in reverse order.
 */
export interface ServerOptions {
  /** Also run the demo agent and its two apps in this process (`postern start --demo`). */
  demo?: boolean;
}

export async function startServer(config: PosternConfig, log: Logger, opts: ServerOptions = {}): Promise<RunningServer> {
  const cleanups = new Cleanups();
  try {
    const core = await startCore(config, log, cleanups);
    const acmeChallenges = new TlsAlpnChallenges();
    const acme = config.proxy.acme ? new AcmeCertificates(config.proxy.acme, config.data_dir, [acmeDomain(config)], acmeChallenges, log.child({ component: 'acme' })) : undefined;
    const certificates = await ProxyCertificates.start(config, core.cluster, acme);

    const metrics = new Registry();
    collectDefaultMetrics({ register: metrics, prefix: 'postern_' });
    const { access } = core;
    new Gauge({
      name: 'postern_access_grants',
      help: 'Live grants the access layer decides again on every change: open sessions, agent tunnels, connections with certificates, held app decisions.',
      registers: [metrics],
      collect() {
        this.set(access.held);
      },
    });
    const router = new Router();
    const { handlers, tunnels, catalog } = buildHandlers(core, config, { metrics, served: () => router.served(), log }, cleanups);
    // With ACME, each app's name gets its own certificate the first time a browser asks for it.
    const appCertificates = acme
      ? new AppCertificates({
          isAppHost: (name) => catalog.byHost(name)?.app !== undefined,
          kept: acme.keptNames().filter((name) => name !== config.proxy.public_addr.host),
          forName: (name) => acme.forDomains([name], `the certificate for ${name}`),
          context: (c) => createSecureContext({ cert: c.certPem, key: c.keyPem, ...proxyTlsOptions(core.cluster) }),
          holdMs: Math.min(APP_CERTIFICATE_HOLD_MS, config.proxy.handshake_timeout * 0.8),
          log: log.child({ component: 'acme' }),
        })
      : undefined;
    for (const { id } of PROTOCOLS) {
      const handler = handlers[id];
      if (handler) router.register(id, handler);
    }

    const listener = new ProxyListener({
      router,
      tls: { ...certificates.current.options, ...(appCertificates ? { SNICallback: appCertificates.select } : {}) },
      useProxyProtocol: config.proxy.use_proxy_protocol,
      handshakeTimeoutMs: config.proxy.handshake_timeout,
      maxConnections: config.proxy.max_connections,
      maxConnectionsPerAddress: config.proxy.max_connections_per_ip,
      publicUrl: core.publicUrl,
      log: log.child({ component: 'proxy' }),
      metrics: new ProxyMetrics(metrics),
      ...(acme ? { acmeChallenges } : {}),
    });
    const proxyAddr = await listener.listen(config.proxy.listen_addr);
    cleanups.add(async () => {
      // Stop accepting first, or agents told to go would reconnect to this dying proxy at once;
      // then close the tunnels (their records are deleted while storage is open), then wait out the rest.
      const closed = listener.close(2000);
      await tunnels.closeAll('the proxy is shutting down');
      await closed;
    });
    certificates.keepRenewed((fresh) => listener.setSecureContext(fresh.options), log.child({ component: 'proxy' }));
    cleanups.add(() => certificates.stop());

    let diagAddr: HostPort | undefined;
    if (config.diag_addr) {
      const { cluster, backend } = core;
      const diag = new DiagServer(
        metrics,
        {
          storage: async () => ((await backend.get(CLUSTER_KEYS.name)) ? undefined : 'the cluster record is missing from storage'),
          authorities: () => expiryProblem({ 'host CA': cluster.authorities.host.cert.notAfter, 'user CA': cluster.authorities.user.cert.notAfter, 'proxy certificate': certificates.current.notAfter }),
          listener: () => (listener.listening ? undefined : 'the proxy listener is not listening'),
        },
        log.child({ component: 'diag' }),
      );
      diagAddr = await diag.listen(config.diag_addr);
      cleanups.add(() => diag.close());
    }

    let demo: Demo | undefined;
    if (opts.demo) {
      demo = await startDemo(core, config, proxyAddr, log);
      cleanups.add(() => demo!.close());
    }
    const firstAdmin = await firstAdminInvite(core.auth);
    return {
      clusterName: core.cluster.clusterName,
      ...(firstAdmin ? { firstAdmin } : {}),
      ...(demo ? { demo: demo.lines } : {}),
      publicUrl: core.publicUrl,
      proxyAddr,
      ...(diagAddr ? { diagAddr } : {}),
      pins: { host: core.cluster.authorities.host.pin, user: core.cluster.authorities.user.pin },
      tlsSource: certificates.current.source,
      ownCertificate: core.auth.settings.ownCertificate === true,
      backend: core.backend,
      close: () => cleanups.run(),
    };
  } catch (err) {
    await cleanups.run();
    throw err;
  }
}

/** Readiness problem for certificates that have expired (or undefined when all are valid). */
function expiryProblem(notAfter: Record<string, Date>): string | undefined {
  const now = Date.now();
  const expired = Object.entries(notAfter).filter(([, date]) => date.getTime() <= now);
  return expired.length ? expired.map(([name, date]) => `the ${name} expired at ${date.toISOString()}`).join('; ') : undefined;
}

/** The name the ACME certificate is for: the public host, which must be a DNS name the ACME server can reach. */
function acmeDomain(config: PosternConfig): string {
  const host = config.proxy.public_addr.host;
  if (isIP(host) !== 0 || host === 'localhost' || host.endsWith('.localhost')) {
    throw new PosternError('CONFIG_INVALID', `proxy.acme: the certificate would be for proxy.public_addr's host ${host}, which no ACME server can reach; set public_addr to the DNS name people use (it must lead to this port), or leave acme out`);
  }
  return host;
}
