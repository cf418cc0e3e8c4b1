import { request } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
import { PosternError } from '../errors/postern-error.js';
import { formatHostPort, type HostPort } from '../net/addr.js';
import { lookup } from '../net/localhost.js';
import { clientContext, connectWithContext } from '../net/secure-contexts.js';

/** How a client trusts and identifies itself to a proxy. */
export interface ProxyEndpoint {
  proxy: HostPort;
  /** Extra CAs to trust besides the system's (the cluster's host CA, a --ca-file). */
  trustedPem?: string;
  /** Skip verifying the proxy (--insecure): for first contact in tests only. */
  insecure?: boolean;
  /** A client certificate and key (mutual TLS). */
  certPem?: string;
  keyPem?: string;
  /** A bearer token from a browser or device login (sent as Authorization). */
  bearer?: string;
}

const TIMEOUT_MS = 15_000;

/** TLS errors that mean "this proxy's certificate is not one we trust". */
const UNTRUSTED = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED']);

/**
 * A TLS connection to the proxy with the endpoint's trust and identity (local proxies, postern tcp,
 * postern proxy ssh): the context is built once and sessions are resumed.
 */
export function connectToProxy(ep: ProxyEndpoint, extra: { servername?: string; ALPNProtocols: string[] }): TLSSocket {
  const base = { host: ep.proxy.host, port: ep.proxy.port, lookup, ...(isIP(ep.proxy.host) ? {} : { servername: ep.proxy.host }), ...extra };
  const socket = ep.insecure
    ? tlsConnect({ ...base, rejectUnauthorized: false, ...(ep.certPem && ep.keyPem ? { cert: ep.certPem, key: ep.keyPem } : {}) })
    : connectWithContext({ ...base, ...(ep.trustedPem ? { trustedPem: ep.trustedPem } : {}), ...(ep.certPem && ep.keyPem ? { certPem: ep.certPem, keyPem: ep.keyPem } : {}) });
  // Interactive protocols (SSH's window updates, a shell's keystrokes) stall ~40 ms per small
  // write behind Nagle and delayed ACKs.
  socket.setNoDelay(true);
  return socket;
}

/** TLS options for requests to the proxy's API. */
function tlsOptionsFor(ep: ProxyEndpoint) {
  return {
    host: ep.proxy.host,
    port: ep.proxy.port,
    ...(isIP(ep.proxy.host) ? {} : { servername: ep.proxy.host }),
    lookup,
    ...(ep.insecure ? { rejectUnauthorized: false, ...(ep.certPem && ep.keyPem ? { cert: ep.certPem, key: ep.keyPem } : {}) } : { secureContext: clientContext(ep) }),
  };
}

/**
 * Calls the proxy's JSON API. Errors come back as the typed PosternError the server sent, or as
 * PROXY_UNREACHABLE / UNTRUSTED_CLUSTER with what to check.
 */
export function callApi<T>(ep: ProxyEndpoint, method: string, path: string, body?: unknown): Promise<T> {
  const where = formatHostPort(ep.proxy);
  return new Promise<T>((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        ...tlsOptionsFor(ep),
        method,
        path,
        headers: {
          accept: 'application/json',
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          ...(ep.bearer ? { authorization: `Bearer ${ep.bearer}` } : {}),
        },
        timeout: TIMEOUT_MS,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            reject(new PosternError('PROXY_UNREACHABLE', `${where} answered ${method} ${path} with HTTP ${res.statusCode} and no JSON; is --proxy pointing at a Postern proxy?`));
            return;
          }
          if ((res.statusCode ?? 500) >= 400) reject(PosternError.fromJSON(json));
          else resolve(json as T);
        });
      },
    );
    req.on('timeout', () => req.destroy(new PosternError('PROXY_UNREACHABLE', `${where} did not answer within ${TIMEOUT_MS / 1000} s`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(connectionError(err, where)));
    req.end(payload);
  });
}

/** Turns a socket or TLS failure into an error that says what to do. */
export function connectionError(err: NodeJS.ErrnoException, where: string): PosternError {
  if (err instanceof PosternError) return err;
  if (err.code && UNTRUSTED.has(err.code)) {
    return new PosternError(
      'UNTRUSTED_CLUSTER',
      `the proxy at ${where} presented a certificate this machine does not trust (${err.code}). ` +
        'If it is a new cluster with its own CA, pass --ca-pin sha256:… (printed by `postern start` and `postern ctl status`) or --ca-file with its host CA; --insecure skips the check (tests only)',
    );
  }
  const hint =
    err.code === 'ECONNREFUSED'
      ? 'connection refused: check the address and that `postern start` is running there'
      : err.code === 'ENOTFOUND'
        ? 'the host name does not resolve'
        : err.message;
  return new PosternError('PROXY_UNREACHABLE', `cannot reach the proxy at ${where}: ${hint}`, { cause: err });
}
