import { randomBytes } from 'node:crypto';
import { EC_ALGORITHM, type CryptoKey, generateKeyPair, privateKeyFromPem, privateKeyToPem, x509 } from './crypto.js';
import { identityExtensions, type Identity } from './identity.js';
import { caPin } from './pin.js';

/**
 * The certificate authorities (DESIGN.md §3): `user` signs people's certificates, `host` signs
 * the proxy's TLS certificate and agents' certificates, `jwt` signs the assertions apps receive
 * (its certificate only carries the key; apps verify with the JWKS), `db` signs databases' server
 * certificates (`ctl auth sign-db`) and the client certificates, one database user each, that
 * agents present to databases instead of passwords. Keys are ECDSA P-256.
 */
export type AuthorityType = 'user' | 'host' | 'jwt' | 'db';
export const AUTHORITY_TYPES: readonly AuthorityType[] = ['user', 'host', 'jwt', 'db'];

const CA_LIFETIME_MS = 10 * 365 * 86_400_000;
/** Signed certificates start this far in the past, to tolerate clock skew between machines. */
const BACKDATE_MS = 60_000;

export interface CertAuthority {
  type: AuthorityType;
  clusterName: string;
  certPem: string;
  cert: x509.X509Certificate;
  privateKey: CryptoKey;
  /** `sha256:…` of the CA's public key. */
  pin: string;
}

/** What storage keeps of an authority. The private key is PKCS#8 PEM. */
export interface StoredAuthority {
  type: AuthorityType;
  cluster_name: string;
  cert_pem: string;
  key_pem: string;
}

export async function createAuthority(type: AuthorityType, clusterName: string): Promise<StoredAuthority> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ O: [clusterName] }, { OU: [`postern ${type} CA`] }, { CN: [`${clusterName} ${type} CA`] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_LIFETIME_MS),
    signingAlgorithm: EC_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { type, cluster_name: clusterName, cert_pem: cert.toString('pem'), key_pem: await privateKeyToPem(keys.privateKey) };
}

export async function loadAuthority(stored: StoredAuthority): Promise<CertAuthority> {
  return {
    type: stored.type,
    clusterName: stored.cluster_name,
    certPem: stored.cert_pem,
    cert: new x509.X509Certificate(stored.cert_pem),
    privateKey: await privateKeyFromPem(stored.key_pem),
    pin: caPin(stored.cert_pem),
  };
}

export interface IssueRequest {
  /** The subject's public key: the key pair is made by whoever will hold the certificate. */
  publicKey: CryptoKey;
  commonName: string;
  ttlMs: number;
  usage: 'server' | 'client';
  dnsNames?: string[];
  ipAddresses?: string[];
  identity?: Omit<Identity, 'expires' | 'username'>;
}

/** Signs a leaf certificate. An identity, when given, goes into the Postern extensions. */
export async function issueCertificate(ca: CertAuthority, req: IssueRequest): Promise<x509.X509Certificate> {
  const now = Date.now();
  const notAfter = new Date(Math.min(now + req.ttlMs, ca.cert.notAfter.getTime()));
  const sans: x509.JsonGeneralName[] = [
    ...(req.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(req.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([req.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth], false),
    await x509.AuthorityKeyIdentifierExtension.create(ca.cert, false),
  ];
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans, false));
  if (req.identity) extensions.push(...identityExtensions({ ...req.identity, username: req.commonName, expires: notAfter }));
  return x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ O: [ca.clusterName] }, { CN: [req.commonName] }],
    issuer: ca.cert.subject,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter,
    signingAlgorithm: EC_ALGORITHM,
    publicKey: req.publicKey,
    signingKey: ca.privateKey,
    extensions,
  });
}

/** A positive 16-byte serial (the top bit cleared so DER needs no sign byte). */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}
