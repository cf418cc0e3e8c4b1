import { createHash, randomBytes } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { EC_ALGORITHM, generateKeyPair, privateKeyToPem, x509 } from '../../pki/crypto.js';

/** RFC 8737: the extension a challenge's certificate must carry. */
const ACME_IDENTIFIER_OID = '1.3.6.1.5.5.7.1.31';

/**
 * The TLS-ALPN-01 challenges waiting for their validator, by domain. The listener asks it, for a
 * connection that offers `acme-tls/1`, which certificate to answer with; everything else about
 * ACME lives in this folder.
 */
export class TlsAlpnChallenges {
  private readonly waiting = new Map<string, SecureContext>();

  get pending(): boolean {
    return this.waiting.size > 0;
  }

  /** The challenge's certificate for a server name, if one waits. */
  context(servername: string): SecureContext | undefined {
    return this.waiting.get(servername.toLowerCase());
  }

  /** Answers the validator for `domain` with proof of `keyAuthorization` until remove(). */
  async add(domain: string, keyAuthorization: string): Promise<void> {
    this.waiting.set(domain.toLowerCase(), await challengeContext(domain, keyAuthorization));
  }

  remove(domain: string): void {
    this.waiting.delete(domain.toLowerCase());
  }
}

/**
 * A self-signed certificate for the domain with the critical acmeIdentifier extension: the
 * SHA-256 of the key authorization, as a DER OCTET STRING (RFC 8737 §3).
 */
async function challengeContext(domain: string, keyAuthorization: string): Promise<SecureContext> {
  const keys = await generateKeyPair();
  const digest = createHash('sha256').update(keyAuthorization).digest();
  const octetString = Buffer.concat([Buffer.from([0x04, digest.length]), digest]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex').replace(/^[89a-f]/, '1'),
    name: [{ CN: [domain] }],
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 7 * 86_400_000),
    keys,
    signingAlgorithm: EC_ALGORITHM,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: domain }]), new x509.Extension(ACME_IDENTIFIER_OID, true, octetString)],
  });
  return createSecureContext({ cert: cert.toString('pem'), key: await privateKeyToPem(keys.privateKey) });
}
