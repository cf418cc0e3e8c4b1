import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { createSecureContext, type SecureContext, type TlsOptions } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { ClusterState } from '../auth/cluster-state.js';
import type { PosternConfig } from '../config/schema.js';
import { PosternError } from '../errors/postern-error.js';
import type { Logger } from '../log/logger.js';
import { issueCertificate, type CertAuthority } from '../pki/authority.js';
import { generateKeyPair, privateKeyToPem } from '../pki/crypto.js';
import type { AcmeCertificate, AcmeCertificates } from './acme/acme-certificates.js';

/** How long an issued proxy certificate lives; it is renewed in the running process at 2/3 of that. */
export const PROXY_CERT_TTL_MS = 7 * 86_400_000;

export interface ProxyTls {
  options: TlsOptions;
  /** When to issue a fresh certificate; absent for configured certificate files. */
  renewAt?: Date;
  /** When the (default) certificate expires. */
  notAfter: Date;
  /** For the startup banner. */
  source: string;
}

/**
 * The proxy's own certificate from the host CA: the public host and every subdomain (apps live
 * there), plus localhost and loopback addresses so local clients verify it too. The key is made
 * here and stays in memory.
 */
export async function issueProxyTls(hostCa: CertAuthority, publicHost: string): Promise<ProxyTls> {
  const keys = await generateKeyPair();
  const hostIsIp = isIP(publicHost) !== 0;
  const dnsNames = hostIsIp ? ['localhost'] : [...new Set([publicHost, `*.${publicHost}`, 'localhost'])];
  const ipAddresses = [...new Set(['127.0.0.1', '::1', ...(hostIsIp ? [publicHost] : [])])];
  const cert = await issueCertificate(hostCa, { publicKey: keys.publicKey, commonName: publicHost, ttlMs: PROXY_CERT_TTL_MS, usage: 'server', dnsNames, ipAddresses });
  const lifetime = cert.notAfter.getTime() - Date.now();
  return {
    options: { cert: cert.toString('pem'), key: await privateKeyToPem(keys.privateKey) },
    renewAt: new Date(Date.now() + (lifetime * 2) / 3),
    notAfter: cert.notAfter,
    source: `issued by the host CA for ${[...dnsNames, ...ipAddresses].join(', ')}`,
  };
}

/**
 * Certificates from files (proxy.certificates). The first is the default; the others are chosen
 * by SNI against the names in their certificates.
 */
export function loadProxyTls(pairs: { cert_file: string; key_file: string }[]): ProxyTls {
  const loaded = pairs.map((pair, i) => {
    const field = `proxy.certificates[${i}]`;
    let cert: string;
    let key: string;
    try {
      cert = readFileSync(pair.cert_file, 'utf8');
      key = readFileSync(pair.key_file, 'utf8');
    } catch (err) {
      throw new PosternError('CERT_INVALID', `${field}: cannot read ${(err as { path?: string }).path ?? 'the file'}: ${(err as Error).message}`);
    }
    let context: SecureContext;
    let x: X509Certificate;
    try {
      context = createSecureContext({ cert, key });
      x = new X509Certificate(cert);
    } catch (err) {
      throw new PosternError('CERT_INVALID', `${field} (${pair.cert_file}, ${pair.key_file}): ${(err as Error).message}; give a PEM certificate and the PEM private key that belongs to it`);
    }
    const notAfter = new Date(x.validTo);
    if (notAfter.getTime() < Date.now()) throw new PosternError('CERT_INVALID', `${field}: ${pair.cert_file} expired on ${x.validTo}; renew it`);
    const names = (x.subjectAltName ?? '').split(', ').filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4).toLowerCase());
    return { cert, key, context, names, notAfter };
  });
  const [first, ...rest] = loaded;
  const options: TlsOptions & { SNICallback?: (name: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void } = {
    cert: first!.cert,
    key: first!.key,
  };
  if (rest.length > 0) {
    options.SNICallback = (servername, cb) => {
      const name = servername.toLowerCase();
      const match = loaded.find((l) => l.names.some((n) => n === name || (n.startsWith('*.') && name.endsWith(n.slice(1)) && !name.slice(0, -n.length + 1).includes('.'))));
      cb(null, (match ?? first!).context);
    };
  }
  return { options, notAfter: first!.notAfter, source: `from ${pairs.map((p) => p.cert_file).join(', ')}` };
}

/**
 * The proxy's TLS: configured certificate files, or one issued by the host CA and re-issued in
 * the running process before it expires (open connections keep theirs). Every connection may
 * present a client certificate, optional at the TLS layer (browsers and curl without one still
 * get the web UI); handlers decide what they need through the one IdentityVerifier.
 */
/**
 * TLS 1.2 suites with forward secrecy and AEAD only (no CBC, whose padding has a long history of
 * oracles, and no CCM8, whose 8-byte tag is short). TLS 1.3 keeps OpenSSL's defaults, which are
 * all AEAD; Node's minimum version is TLS 1.2 already.
 */
const TLS12_AEAD_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * What every certificate the proxy serves is served with: AEAD suites, and a client certificate
 * asked for (optional at the TLS layer) and checked against the cluster's CAs.
 */
export function proxyTlsOptions(cluster: ClusterState): TlsOptions {
  return { ciphers: TLS12_AEAD_CIPHERS, requestCert: true, rejectUnauthorized: false, ca: [cluster.authorities.user.certPem, cluster.authorities.host.certPem] };
}

/** The longest delay setTimeout takes (2^31 - 1 ms); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class ProxyCertificates {
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly next: () => Promise<ProxyTls>,
    /** The certificate in use now. */
    public current: ProxyTls,
  ) {}

  static async start(config: PosternConfig, cluster: ClusterState, acme?: AcmeCertificates): Promise<ProxyCertificates> {
    const secure = (tls: ProxyTls): ProxyTls => ({ ...tls, options: { ...tls.options, ...proxyTlsOptions(cluster) } });
    if (acme) {
      const fromAcme = (c: AcmeCertificate): ProxyTls => ({ options: { cert: c.certPem, key: c.keyPem }, notAfter: c.notAfter, renewAt: c.renewAt, source: `from the ACME server ${config.proxy.acme!.directory_url}, valid until ${c.notAfter.toISOString()}` });
      const stored = acme.stored();
      // The first time, the proxy must listen before the ACME server can validate it: until the
      // certificate arrives (renewAt now: requested as soon as it listens) one from the host CA.
      const first = stored
        ? fromAcme(stored)
        : { ...(await issueProxyTls(cluster.authorities.host, config.proxy.public_addr.host)), renewAt: new Date(), source: 'issued by the host CA until the ACME server issues one (requested at start)' };
      return new ProxyCertificates(async () => secure(fromAcme(await acme.obtain())), secure(first));
    }
    const next = async (): Promise<ProxyTls> =>
      secure(config.proxy.certificates.length > 0 ? loadProxyTls(config.proxy.certificates) : await issueProxyTls(cluster.authorities.host, config.proxy.public_addr.host));
    return new ProxyCertificates(next, await next());
  }

  /**
   * Renews before expiry, handing each new certificate to `use`; stop() ends it. A failure is
   * tried again after a minute, then after twice as long each time up to an hour (an ACME CA
   * limits failed validations).
   */
  keepRenewed(use: (tls: ProxyTls) => void, log: Logger): void {
    let retryMs = 60_000;
    const renew = () => {
      this.next()
        .then((fresh) => {
          use(fresh);
          this.current = fresh;
          retryMs = 60_000;
          log.info('renewed the proxy certificate', { next_renewal: fresh.renewAt?.toISOString(), source: fresh.source });
          if (fresh.renewAt) plan(fresh.renewAt);
        })
        .catch((err: unknown) => {
          log.error(`renewing the proxy certificate failed; trying again in ${Math.round(retryMs / 60_000)} min`, { err });
          plan(new Date(Date.now() + retryMs));
          retryMs = Math.min(retryMs * 2, 3_600_000);
        });
    };
    // setTimeout holds at most ~24.8 days; a later renewal waits in steps.
    const plan = (at: Date) => {
      const wait = at.getTime() - Date.now();
      this.timer = setTimeout(() => (wait > MAX_TIMER_MS ? plan(at) : renew()), Math.max(0, Math.min(wait, MAX_TIMER_MS)));
      this.timer.unref();
    };
    if (this.current.renewAt) plan(this.current.renewAt);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
