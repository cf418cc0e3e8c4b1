import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { PosternError } from '../errors/postern-error.js';
import { identityFromCertificate, type Identity, type IdentityKind, type Route } from '../pki/identity.js';

/** The one resource a connection is for, where a certificate narrowed to it may be used. */
export interface RouteScope {
  kind: string;
  name: string;
}

/** Why a certificate narrowed to one resource (its route) may not be used for `scope` (none: the proxy's API), if it may not. */
export function routeScopeProblem(route: Route | undefined, scope: RouteScope | undefined): string | undefined {
  if (!route) return undefined;
  const name = route.kind === 'app' ? route.name : route.kind === 'db' ? route.service : route.cluster;
  if (scope && route.kind === scope.kind && name === scope.name) return undefined;
  return `this certificate is only for ${route.kind} "${name}"${scope ? `, not ${scope.kind} "${scope.name}"` : ''}; use your login certificate (\`postern login\`) for anything else`;
}

/** routeScopeProblem() as a refusal. */
export function checkRouteScope(route: Route | undefined, scope: RouteScope | undefined): void {
  const problem = routeScopeProblem(route, scope);
  if (problem) throw new PosternError('ACCESS_DENIED', problem);
}

/**
 * Certificates whose chain was verified, by fingerprint: checking an ECDSA signature and parsing
 * the extensions cost more than relaying a request, and a keep-alive connection presents the same
 * certificate for every one. What can change (validity) is checked every time.
 */
const CACHE_LIMIT = 10_000;

/**
 * The one check of a client certificate, used by every protocol handler (DESIGN.md §3). It
 * accepts a certificate only if it was signed by the CA that issues that kind of identity (user
 * certificates by the user CA, agents' by the host CA), is within its validity, and carries a
 * Postern identity of the expected kind. It says who; whether that caller may still act (locks,
 * a removed user) is the access layer's standing, which audits what it refuses.
 */
export class IdentityVerifier {
  private readonly cas: Record<IdentityKind, X509Certificate>;
  private readonly verified = new Map<string, { kind: IdentityKind; identity: Identity }>();

  constructor(cluster: { authorities: Record<IdentityKind, { certPem: string }> }) {
    this.cas = { user: new X509Certificate(cluster.authorities.user.certPem), host: new X509Certificate(cluster.authorities.host.certPem) };
  }

  /**
   * Verifies the peer certificate of a TLS connection. Throws a PosternError that says what to do.
   * A certificate narrowed to one resource (`postern apps login`) is accepted only where `scope`
   * names that resource: it is no login certificate for anything else.
   */
  verifySocket(socket: TLSSocket, expected: IdentityKind, scope?: RouteScope): Identity {
    const identity = this.verifyPeer(socket, expected);
    checkRouteScope(identity.route, scope);
    return identity;
  }

  /** verifySocket without the route check, for a caller that checks the route itself (per request). */
  verifyPeer(socket: TLSSocket, expected: IdentityKind): Identity {
    const cert = socket.getPeerX509Certificate();
    if (!cert) {
      throw new PosternError(
        'UNAUTHENTICATED',
        expected === 'user' ? 'no client certificate was presented; run `postern login` and connect through the postern client' : 'no agent certificate was presented; join the agent with a token first',
      );
    }
    return this.verify(cert, expected);
  }

  verify(cert: X509Certificate, expected: IdentityKind, now = Date.now()): Identity {
    const known = this.verified.get(cert.fingerprint256);
    const identity = known?.kind === expected ? known.identity : this.verifyChain(cert, expected);
    if (identity.expires.getTime() <= now) {
      const fix = expected === 'host' ? 'start the agent again with a new --token (postern ctl tokens add)' : 'run `postern login` to get a new one';
      throw new PosternError('CERT_EXPIRED', `the certificate of ${identity.username} expired at ${identity.expires.toISOString()}; ${fix}`);
    }
    if (Date.parse(cert.validFrom) > now) throw new PosternError('UNAUTHENTICATED', `the certificate is not valid before ${cert.validFrom}; check this machine's clock`);
    return identity;
  }

  /** The checks that never change for a certificate: who signed it, and the identity it carries. */
  private verifyChain(cert: X509Certificate, expected: IdentityKind): Identity {
    const ca = this.cas[expected];
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
      const other = expected === 'user' ? 'host' : 'user';
      const fromOther = cert.checkIssued(this.cas[other]) && cert.verify(this.cas[other].publicKey);
      throw new PosternError(
        'UNAUTHENTICATED',
        fromOther
          ? `a ${other} certificate cannot be used as a ${expected} certificate`
          : `the certificate was not issued by this cluster's ${expected} CA; log in to this cluster (postern login --proxy …)`,
      );
    }
    let identity: Identity;
    try {
      identity = identityFromCertificate(cert.raw);
    } catch (err) {
      throw new PosternError('UNAUTHENTICATED', `the certificate carries no valid Postern identity: ${(err as Error).message}`);
    }
    if (identity.kind !== expected) throw new PosternError('UNAUTHENTICATED', `a ${identity.kind} certificate cannot be used as a ${expected} certificate`);
    if (this.verified.size >= CACHE_LIMIT) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(cert.fingerprint256, { kind: expected, identity });
    return identity;
  }
}
