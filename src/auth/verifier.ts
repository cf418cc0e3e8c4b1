import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { PosternError } from '../errors/postern-error.js';
import { x509 } from '../pki/crypto.js';
import { identityFromCertificate, type Identity, type IdentityKind } from '../pki/identity.js';
import { lockedError, type Lock, type LockSubject } from './locks.js';

/** What the verifier asks of the lock view: the lock covering a subject now, if any. */
export interface LockView {
  find(subject: LockSubject): Lock | undefined;
}

/** Parsed identities by certificate fingerprint: parsing extensions costs more than the handshake's own checks. */
const CACHE_LIMIT = 10_000;

/**
 * The one check of a client certificate, used by every protocol handler (DESIGN.md §3). It
 * accepts a certificate only if it was signed by the CA that issues that kind of identity (user
 * certificates by the user CA, agents' by the host CA), is within its validity, carries a
 * Postern identity of the expected kind, and no lock covers its user or roles.
 */
export class IdentityVerifier {
  private readonly cas: Record<IdentityKind, X509Certificate>;
  private readonly cache = new Map<string, Identity>();

  constructor(
    cluster: { authorities: Record<IdentityKind, { certPem: string }> },
    private readonly locks: LockView,
  ) {
    this.cas = { user: new X509Certificate(cluster.authorities.user.certPem), host: new X509Certificate(cluster.authorities.host.certPem) };
  }

  /** Verifies the peer certificate of a TLS connection. Throws a PosternError that says what to do. */
  verifySocket(socket: TLSSocket, expected: IdentityKind): Identity {
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
    const notAfter = Date.parse(cert.validTo);
    if (notAfter <= now) {
      throw new PosternError('CERT_EXPIRED', `the certificate of ${cert.subject.match(/CN=([^\n]*)/)?.[1] ?? 'this identity'} expired at ${new Date(notAfter).toISOString()}; run \`postern login\` to get a new one`);
    }
    if (Date.parse(cert.validFrom) > now) throw new PosternError('UNAUTHENTICATED', `the certificate is not valid before ${cert.validFrom}; check this machine's clock`);
    const identity = this.identityOf(cert);
    if (identity.kind !== expected) throw new PosternError('UNAUTHENTICATED', `a ${identity.kind} certificate cannot be used as a ${expected} certificate`);
    const lock = this.locks.find({ username: identity.username, roles: identity.roles });
    if (lock) throw lockedError(lock);
    return identity;
  }

  private identityOf(cert: X509Certificate): Identity {
    const key = cert.fingerprint256;
    let identity = this.cache.get(key);
    if (!identity) {
      try {
        identity = identityFromCertificate(new x509.X509Certificate(cert.raw));
      } catch (err) {
        throw new PosternError('UNAUTHENTICATED', `the certificate carries no valid Postern identity: ${(err as Error).message}`);
      }
      if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, identity);
    }
    return identity;
  }
}
