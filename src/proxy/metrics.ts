import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Why a connection ended before reaching a handler. One label value per cause, for alerting. */
export type HandshakeFailure =
  | 'connection_limit'
  | 'address_limit'
  | 'proxy_header_missing'
  | 'proxy_header_invalid'
  | 'plain_http'
  | 'not_tls'
  | 'handshake_timeout'
  | 'unknown_alpn'
  | 'alpn_list_too_long'
  | 'protocol_unavailable'
  | 'tls_error'
  | 'client_closed';

/**
 * The listener's Prometheus metrics. The per-connection path only bumps plain integers; the
 * Prometheus objects read them when scraped, so a connection costs no label hashing.
 */
export class ProxyMetrics {
  private readonly routed = new Map<string, number>();
  private readonly open = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly handshakeSeconds: Histogram;

  constructor(registry: Registry) {
    const { routed, open, failures } = this;
    new Counter({
      name: 'postern_proxy_connections_total',
      help: 'Connections that completed the TLS handshake, by the protocol they were routed to.',
      labelNames: ['protocol'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [protocol, n] of routed) this.inc({ protocol }, n);
      },
    });
    new Gauge({
      name: 'postern_proxy_open_connections',
      help: 'Connections open now, by protocol ("handshake" before routing).',
      labelNames: ['protocol'],
      registers: [registry],
      collect() {
        this.set({ protocol: 'handshake' }, 0);
        for (const [protocol, n] of open) this.set({ protocol }, n);
      },
    });
    new Counter({
      name: 'postern_proxy_handshake_failures_total',
      help: 'Connections closed before reaching a handler, by reason.',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [reason, n] of failures) this.inc({ reason }, n);
      },
    });
    this.handshakeSeconds = new Histogram({
      name: 'postern_proxy_handshake_duration_seconds',
      help: 'Time from accepting a connection to a finished TLS handshake (PROXY header included).',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
  }

  accepted(): void {
    bump(this.open, 'handshake', 1);
  }

  failed(reason: HandshakeFailure, wasAccepted = true): void {
    bump(this.failures, reason, 1);
    if (wasAccepted) bump(this.open, 'handshake', -1);
  }

  routedTo(protocol: string, handshakeSeconds: number): void {
    bump(this.open, 'handshake', -1);
    bump(this.routed, protocol, 1);
    bump(this.open, protocol, 1);
    this.handshakeSeconds.observe(handshakeSeconds);
  }

  closed(protocol: string): void {
    bump(this.open, protocol, -1);
  }
}

function bump(map: Map<string, number>, key: string, by: number): void {
  map.set(key, (map.get(key) ?? 0) + by);
}
