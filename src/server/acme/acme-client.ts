import { request as httpsRequest } from 'node:https';
import { calculateJwkThumbprint, exportJWK, FlattenedSign, type JWK } from 'jose';
import { PosternError } from '../../errors/postern-error.js';
import type { CryptoKey } from '../../pki/crypto.js';

/** What an ACME server answered. */
interface AcmeResponse {
  status: number;
  location?: string;
  body: Buffer;
}

interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
}

export interface AcmeOrder {
  url: string;
  status: 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
  authorizations: string[];
  finalize: string;
  certificate?: string;
  error?: Problem;
}

export interface AcmeAuthorization {
  status: 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';
  identifier: { type: string; value: string };
  challenges: { type: string; url: string; token: string; status: string; error?: Problem }[];
}

interface Problem {
  type?: string;
  detail?: string;
}

/** A server's answer that is an error: its problem document's detail, and what we asked. */
function acmeError(what: string, res: AcmeResponse): PosternError {
  let problem: Problem = {};
  try {
    problem = JSON.parse(res.body.toString('utf8')) as Problem;
  } catch {
    // not a problem document; the status says enough
  }
  return new PosternError('ACME_FAILED', `the ACME server refused ${what} (HTTP ${res.status}${problem.type ? `, ${problem.type.replace('urn:ietf:params:acme:error:', '')}` : ''}): ${problem.detail ?? res.body.toString('utf8').slice(0, 200)}`);
}

/**
 * The client half of ACME (RFC 8555) that a proxy needs: an account, orders, authorizations,
 * challenges, finalize and the certificate. Every request is a JWS signed with the account key
 * (ES256), with a fresh nonce; a `badNonce` refusal is retried once with the nonce it carries.
 */
export class AcmeClient {
  private nonce: string | undefined;
  private kid: string | undefined;

  private constructor(
    private readonly directory: Directory,
    private readonly accountKey: CryptoKey,
    private readonly jwk: JWK,
    /** PEM CAs for the ACME server's own HTTPS (a private or test server), else the system's. */
    private readonly ca: string | undefined,
  ) {}

  static async open(directoryUrl: string, accountKey: CryptoKey, ca?: string): Promise<AcmeClient> {
    const res = await send('GET', directoryUrl, ca);
    if (res.status !== 200) throw acmeError(`its directory at ${directoryUrl}`, res);
    const directory = JSON.parse(res.body.toString('utf8')) as Directory;
    const { kty, crv, x, y } = await exportJWK(accountKey);
    return new AcmeClient(directory, accountKey, { kty, crv, x, y } as JWK, ca);
  }

  /** The key authorization for a challenge token: the token and the account key's thumbprint. */
  async keyAuthorization(token: string): Promise<string> {
    return `${token}.${await calculateJwkThumbprint(this.jwk, 'sha256')}`;
  }

  /** Registers the account (or finds the one this key has: the server answers with it). */
  async account(email: string): Promise<string> {
    const res = await this.post(this.directory.newAccount, { termsOfServiceAgreed: true, contact: [`mailto:${email}`] }, 'jwk');
    if (res.status !== 200 && res.status !== 201) throw acmeError('the account', res);
    this.kid = res.location;
    if (!this.kid) throw new PosternError('ACME_FAILED', 'the ACME server created an account but did not say where it is (no Location header)');
    return this.kid;
  }

  async newOrder(domains: string[]): Promise<AcmeOrder> {
    const res = await this.post(this.directory.newOrder, { identifiers: domains.map((value) => ({ type: 'dns', value })) });
    if (res.status !== 201) throw acmeError(`an order for ${domains.join(', ')}`, res);
    return { ...(JSON.parse(res.body.toString('utf8')) as AcmeOrder), url: res.location! };
  }

  async order(url: string): Promise<AcmeOrder> {
    return { ...(await this.read<AcmeOrder>(url, 'the order')), url };
  }

  authorization(url: string): Promise<AcmeAuthorization> {
    return this.read<AcmeAuthorization>(url, 'the authorization');
  }

  /** Tells the server the challenge is ready to be validated. */
  async respond(challengeUrl: string): Promise<void> {
    const res = await this.post(challengeUrl, {});
    if (res.status !== 200) throw acmeError('the challenge response', res);
  }

  async finalize(order: AcmeOrder, csrDer: ArrayBuffer): Promise<void> {
    const res = await this.post(order.finalize, { csr: Buffer.from(csrDer).toString('base64url') });
    if (res.status !== 200) throw acmeError('the certificate request', res);
  }

  /** The certificate chain, PEM, leaf first. */
  async certificate(url: string): Promise<string> {
    const res = await this.post(url, undefined);
    if (res.status !== 200) throw acmeError('the certificate download', res);
    return res.body.toString('utf8');
  }

  private async read<T>(url: string, what: string): Promise<T> {
    const res = await this.post(url, undefined);
    if (res.status !== 200) throw acmeError(what, res);
    return JSON.parse(res.body.toString('utf8')) as T;
  }

  /** A signed POST; `payload` undefined is POST-as-GET (an empty payload). */
  private async post(url: string, payload: unknown, identify: 'kid' | 'jwk' = 'kid', retried = false): Promise<AcmeResponse> {
    const nonce = this.nonce ?? (await this.newNonce());
    this.nonce = undefined;
    const header = { alg: 'ES256', nonce, url, ...(identify === 'jwk' ? { jwk: this.jwk } : { kid: this.kid! }) };
    const body = payload === undefined ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(payload));
    const jws = await new FlattenedSign(body).setProtectedHeader(header).sign(this.accountKey);
    const res = await send('POST', url, this.ca, JSON.stringify(jws), this);
    if (res.status === 400 && !retried && res.body.toString('utf8').includes('urn:ietf:params:acme:error:badNonce')) return this.post(url, payload, identify, true);
    return res;
  }

  private async newNonce(): Promise<string> {
    const res = await send('HEAD', this.directory.newNonce, this.ca, undefined, this);
    if (!this.nonce) throw acmeError('a nonce', res);
    return this.nonce;
  }

  /** Keeps the nonce each answer carries for the next request. */
  takeNonce(nonce: string | undefined): void {
    if (nonce) this.nonce = nonce;
  }
}

/** One HTTPS request to the ACME server, with a deadline. */
function send(method: string, url: string, ca: string | undefined, body?: string, client?: AcmeClient): Promise<AcmeResponse> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, ...(ca ? { ca } : {}), timeout: 30_000, headers: body === undefined ? {} : { 'content-type': 'application/jose+json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const nonce = res.headers['replay-nonce'];
        client?.takeNonce(Array.isArray(nonce) ? nonce[0] : nonce);
        resolve({ status: res.statusCode ?? 0, ...(res.headers.location ? { location: res.headers.location } : {}), body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', (err) => reject(new PosternError('ACME_FAILED', `cannot reach the ACME server at ${url}: ${err.message}${/certificate/i.test(err.message) ? '; for a private ACME server, give its CA in proxy.acme.ca_file' : ''}`, { cause: err })));
    req.end(body);
  });
}
