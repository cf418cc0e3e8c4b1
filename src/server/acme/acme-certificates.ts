import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import type { AcmeConfig } from '../../config/schema.js';
import { PosternError } from '../../errors/postern-error.js';
import type { Logger } from '../../log/logger.js';
import { EC_ALGORITHM, generateKeyPair, type CryptoKey, privateKeyFromPem, privateKeyToPem, x509 } from '../../pki/crypto.js';
import { writeSecretFile } from '../../storage/secret-file.js';
import { AcmeClient, type AcmeOrder } from './acme-client.js';
import type { TlsAlpnChallenges } from './tls-alpn-challenges.js';

/** A certificate from the ACME server, as stored and served. */
export interface AcmeCertificate {
  certPem: string;
  keyPem: string;
  notAfter: Date;
  /** When to get the next one: `renew_before` ahead of expiry. */
  renewAt: Date;
}

/** How long validation and issuance may take, and how often the server is asked meanwhile. */
const WAIT_MS = 120_000;
const POLL_MS = 1000;

/**
 * The proxy's certificate from an ACME CA: an account (its key made here, kept in
 * `<data_dir>/acme/`), an order for the public host name, the TLS-ALPN-01 challenge answered on
 * the one port (TlsAlpnChallenges, read by the listener), a key and CSR made here, and the
 * issued chain, kept beside the account so that a restart serves it at once.
 */
export class AcmeCertificates {
  private readonly dir: string;

  constructor(
    private readonly config: AcmeConfig,
    private readonly dataDir: string,
    private readonly domains: string[],
    private readonly challenges: TlsAlpnChallenges,
    private readonly log: Logger,
    /** Shared by every certificate of this data dir: two first orders at once make one account key. */
    private readonly account: { key?: Promise<CryptoKey> } = {},
    /** What the log calls it. */
    private readonly what = 'the proxy certificate',
  ) {
    this.dir = join(dataDir, 'acme');
  }

  /** The same account's certificate for other names (an app's, say). */
  forDomains(domains: string[], what: string): AcmeCertificates {
    return new AcmeCertificates(this.config, this.dataDir, domains, this.challenges, this.log, this.account, what);
  }

  /** The names of every certificate kept in the data dir (this one's among them). */
  keptNames(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.crt'))
      .map((f) => f.slice(0, -'.crt'.length));
  }

  /** The certificate kept from an earlier start, unless it has expired. */
  stored(): AcmeCertificate | undefined {
    const [certFile, keyFile] = [join(this.dir, `${this.domains[0]}.crt`), join(this.dir, `${this.domains[0]}.key`)];
    if (!existsSync(certFile) || !existsSync(keyFile)) return undefined;
    const certPem = readFileSync(certFile, 'utf8');
    const notAfter = new Date(new X509Certificate(certPem).validTo);
    if (notAfter.getTime() <= Date.now()) return undefined;
    return { certPem, keyPem: readFileSync(keyFile, 'utf8'), notAfter, renewAt: new Date(notAfter.getTime() - this.config.renew_before) };
  }

  /** Orders, validates and downloads a new certificate, and keeps it. */
  async obtain(): Promise<AcmeCertificate> {
    const ca = this.config.ca_file ? readCa(this.config.ca_file) : undefined;
    const client = await AcmeClient.open(this.config.directory_url, await this.accountKey(), ca);
    await client.account(this.config.email);
    let order = await client.newOrder(this.domains);
    for (const url of order.authorizations) await this.authorize(client, url);
    order = await this.waitFor(client, order, ['ready', 'valid'], 'the order to be ready');
    const keys = await generateKeyPair();
    if (order.status === 'ready') {
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({
        name: `CN=${this.domains[0]}`,
        keys,
        signingAlgorithm: EC_ALGORITHM,
        extensions: [new x509.SubjectAlternativeNameExtension(this.domains.map((value) => ({ type: 'dns' as const, value })))],
      });
      await client.finalize(order, csr.rawData);
      order = await this.waitFor(client, order, ['valid'], 'the certificate to be issued');
    }
    const certPem = await client.certificate(order.certificate!);
    const keyPem = await privateKeyToPem(keys.privateKey);
    writeSecretFile(join(this.dir, `${this.domains[0]}.key`), keyPem);
    writeSecretFile(join(this.dir, `${this.domains[0]}.crt`), certPem);
    const notAfter = new Date(new X509Certificate(certPem).validTo);
    // A renew_before longer than the certificate's life would renew at once, again and again: an hour at least.
    const renewAt = new Date(Math.max(notAfter.getTime() - this.config.renew_before, Date.now() + 3_600_000));
    this.log.info(`got ${this.what} from the ACME server`, { domains: this.domains, not_after: notAfter.toISOString(), renew_at: renewAt.toISOString(), directory: this.config.directory_url });
    return { certPem, keyPem, notAfter, renewAt };
  }

  /** One authorization: answered with TLS-ALPN-01 on this proxy's port, unless already valid. */
  private async authorize(client: AcmeClient, url: string): Promise<void> {
    let authz = await client.authorization(url);
    if (authz.status === 'valid') return;
    const domain = authz.identifier.value;
    const challenge = authz.challenges.find((c) => c.type === 'tls-alpn-01');
    if (!challenge) {
      throw new PosternError('ACME_FAILED', `the ACME server offers no tls-alpn-01 challenge for ${domain} (it offers ${authz.challenges.map((c) => c.type).join(', ')}); Postern answers only TLS-ALPN-01, on its one port`);
    }
    await this.challenges.add(domain, await client.keyAuthorization(challenge.token));
    try {
      await client.respond(challenge.url);
      const deadline = Date.now() + WAIT_MS;
      while (authz.status === 'pending' && Date.now() < deadline) {
        await sleep(POLL_MS);
        authz = await client.authorization(url);
      }
    } finally {
      this.challenges.remove(domain);
    }
    if (authz.status !== 'valid') {
      const why = authz.challenges.find((c) => c.type === 'tls-alpn-01')?.error?.detail ?? `the authorization is ${authz.status}`;
      throw new PosternError('ACME_FAILED', `the ACME server could not validate ${domain}: ${why}. It connects to ${domain} on port 443 (or its configured TLS port) with ALPN acme-tls/1: that name must lead to this proxy's port`);
    }
  }

  private async waitFor(client: AcmeClient, order: AcmeOrder, statuses: AcmeOrder['status'][], what: string): Promise<AcmeOrder> {
    const deadline = Date.now() + WAIT_MS;
    while (!statuses.includes(order.status)) {
      if (order.status === 'invalid') throw new PosternError('ACME_FAILED', `the ACME server gave up on the order: ${order.error?.detail ?? 'it is invalid'}`);
      if (Date.now() > deadline) throw new PosternError('ACME_FAILED', `waited ${WAIT_MS / 1000} s for ${what}; the order is still ${order.status}`);
      await sleep(POLL_MS);
      order = await client.order(order.url);
    }
    return order;
  }

  /** The account's key: made on first use and kept (0600); the account is found again by it. */
  private accountKey(): Promise<CryptoKey> {
    // A failed load is tried again by the next order, not remembered.
    return (this.account.key ??= this.loadAccountKey().catch((err: unknown) => {
      this.account.key = undefined;
      throw err;
    }));
  }

  private async loadAccountKey(): Promise<CryptoKey> {
    const file = join(this.dir, 'account.key');
    if (existsSync(file)) return privateKeyFromPem(readFileSync(file, 'utf8'));
    const { privateKey } = await generateKeyPair();
    writeSecretFile(file, await privateKeyToPem(privateKey));
    return privateKey;
  }
}

function readCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new PosternError('CONFIG_INVALID', `proxy.acme.ca_file: cannot read ${file}: ${(err as Error).message}`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
