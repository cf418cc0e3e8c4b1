import type { SecureContext } from 'node:tls';
import type { Logger } from '../../log/logger.js';
import type { AcmeCertificate } from './acme-certificates.js';

/** What AppCertificates needs to order and keep one name's certificate (AcmeCertificates.forDomains). */
export interface NameCertificates {
  stored(): AcmeCertificate | undefined;
  obtain(): Promise<AcmeCertificate>;
}

export interface AppCertificateOptions {
  /** Whether a server name is an app's host (`<app>.<public host>`, or an app's own public_addr) with its app online. */
  isAppHost(servername: string): boolean;
  /** The names whose certificates an earlier start kept (served from the start, apps online or not). */
  kept: string[];
  /** One name's certificates from the ACME account. */
  forName(servername: string): NameCertificates;
  /** The TLS context to serve a certificate with (the proxy's ciphers and client CAs). */
  context(cert: AcmeCertificate): SecureContext;
  /** How long a handshake waits for its name's first certificate before it gets the default one. */
  holdMs: number;
  log: Logger;
  now?: () => number;
}

/** After a failed order for a name, the next waits this long (ACME CAs limit failed validations: Let's Encrypt 5 an hour). */
export const RETRY_AFTER_FAILURE_MS = 15 * 60_000;

interface Served {
  cert: AcmeCertificate;
  context: SecureContext;
}

/**
 * ACME certificates for app names, each ordered the first time a browser asks for the name (its
 * TLS handshake's SNI). TLS-ALPN-01 cannot validate a wildcard, so every app gets its own. The
 * first handshake for a name waits for the order (at most `holdMs`, then it gets the default
 * certificate and the order goes on for the next one); orders for one name are made once however
 * many handshakes wait; a name due for renewal keeps its certificate while the next is ordered.
 * Only names of apps that exist are ordered: a scan of random names orders nothing.
 */
export class AppCertificates {
  private readonly served = new Map<string, Served>();
  private readonly ordering = new Map<string, Promise<Served | undefined>>();
  private readonly failedAt = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly opts: AppCertificateOptions) {
    this.now = opts.now ?? Date.now;
    for (const name of opts.kept) {
      const stored = opts.forName(name).stored();
      if (stored) this.served.set(name, { cert: stored, context: opts.context(stored) });
    }
  }

  /** Node's SNICallback: the name's certificate, or no context (the default certificate). */
  readonly select = (servername: string, done: (err: Error | null, context?: SecureContext) => void): void => {
    const name = servername.toLowerCase();
    // A kept certificate is served while its app is offline too (the browser gets the "offline" page, not a warning).
    const have = this.current(name);
    const app = this.opts.isAppHost(name);
    if (have) {
      if (app && have.cert.renewAt.getTime() <= this.now()) void this.order(name);
      return done(null, have.context);
    }
    if (!app) return done(null);
    const ordered = this.order(name);
    if (!ordered) return done(null);
    let answered = false;
    const answer = (served: Served | undefined) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      done(null, served?.context);
    };
    const timer = setTimeout(() => {
      this.opts.log.info('served the default certificate while an app certificate is still being ordered', { servername: name, waited_ms: this.opts.holdMs });
      answer(undefined);
    }, this.opts.holdMs);
    void ordered.then(answer);
  };

  /** The name's certificate, until it expires. */
  private current(name: string): Served | undefined {
    const have = this.served.get(name);
    if (have && have.cert.notAfter.getTime() <= this.now()) {
      this.served.delete(name);
      return undefined;
    }
    return have;
  }

  /** Orders the name's certificate unless an order is under way (that one is returned) or failed recently (undefined). */
  private order(name: string): Promise<Served | undefined> | undefined {
    const under = this.ordering.get(name);
    if (under) return under;
    const failed = this.failedAt.get(name);
    if (failed !== undefined && this.now() - failed < RETRY_AFTER_FAILURE_MS) return undefined;
    const ordered = this.opts
      .forName(name)
      .obtain()
      .then(
        (cert) => {
          const served = { cert, context: this.opts.context(cert) };
          this.served.set(name, served);
          this.failedAt.delete(name);
          return served;
        },
        (err: unknown) => {
          this.failedAt.set(name, this.now());
          this.opts.log.error(`ordering the certificate for ${name} failed; the next handshake for it after ${RETRY_AFTER_FAILURE_MS / 60_000} min orders again`, { err, servername: name });
          return this.served.get(name);
        },
      )
      .finally(() => this.ordering.delete(name));
    this.ordering.set(name, ordered);
    return ordered;
  }
}
