import * as asn1js from 'asn1js';
import { x509 } from './crypto.js';
import { certificateFields, children, readDer, TAG, utf8, type CertificateFields, type Der } from './der.js';

/**
 * The identity a Postern certificate carries (DESIGN.md §3). The username is the subject CN and
 * the expiry is notAfter; everything else sits in X.509 extensions under one OID arc, encoded and
 * decoded only here.
 *
 * The arc is unregistered (as several access proxies do); one constant to change if Postern gets
 * an IANA enterprise number.
 */
export const POSTERN_OID_ARC = '1.3.9999.1597';

export const IDENTITY_OIDS = {
  kind: `${POSTERN_OID_ARC}.1`,
  roles: `${POSTERN_OID_ARC}.2`,
  traits: `${POSTERN_OID_ARC}.3`,
  route: `${POSTERN_OID_ARC}.4`,
} as const;

/** Who a certificate speaks for: a person (`user`) or a Postern process such as an agent (`host`). */
export type IdentityKind = 'user' | 'host';

/** Narrows a certificate to one resource, e.g. the app a browser session or `apps login` is for. */
export type Route =
  | { kind: 'app'; name: string; public_addr?: string }
  | { kind: 'db'; service: string; username?: string; database?: string }
  | { kind: 'kube'; cluster: string };

export interface Identity {
  kind: IdentityKind;
  username: string;
  roles: string[];
  traits: Record<string, string[]>;
  expires: Date;
  route?: Route;
}

/** The extensions that carry an identity's fields (all but username and expiry). */
export function identityExtensions(id: Identity): x509.Extension[] {
  const ext = (oid: string, value: asn1js.BaseBlock) => new x509.Extension(oid, false, value.toBER());
  const list = [
    ext(IDENTITY_OIDS.kind, new asn1js.Utf8String({ value: id.kind })),
    ext(IDENTITY_OIDS.roles, new asn1js.Sequence({ value: id.roles.map((r) => new asn1js.Utf8String({ value: r })) })),
    ext(IDENTITY_OIDS.traits, new asn1js.Utf8String({ value: JSON.stringify(id.traits) })),
  ];
  if (id.route) list.push(ext(IDENTITY_OIDS.route, new asn1js.Utf8String({ value: JSON.stringify(id.route) })));
  return list;
}

/**
 * Reads the identity out of a DER certificate. Call it only on a certificate whose chain was
 * verified: it checks the encoding, not the signature. Throws with a reason on anything malformed.
 */
export function identityFromCertificate(der: Uint8Array): Identity {
  const cert = certificateFields(der);
  const username = cert.commonName;
  if (!username) throw new Error('certificate has no subject common name (username)');
  const kind = readUtf8(der, cert, IDENTITY_OIDS.kind, true);
  if (kind !== 'user' && kind !== 'host') throw new Error(`certificate has an unknown identity kind "${kind}"`);
  const identity: Identity = {
    kind,
    username,
    roles: readRoles(der, cert),
    traits: parseTraits(readUtf8(der, cert, IDENTITY_OIDS.traits, true)!),
    expires: cert.notAfter,
  };
  const route = readUtf8(der, cert, IDENTITY_OIDS.route, false);
  if (route !== undefined) identity.route = parseRoute(route);
  return identity;
}

/** The DER value inside one of the certificate's extensions. */
function decode(der: Uint8Array, cert: CertificateFields, oid: string): Der | undefined {
  const wrapped = cert.extensions.get(oid);
  if (!wrapped) return undefined;
  let value: Der | undefined;
  try {
    value = readDer(der, wrapped.start, wrapped.end);
  } catch {
    // reported below, with the extension's name
  }
  if (value?.end !== wrapped.end) throw new Error(`certificate extension ${oid} is not valid DER`);
  return value;
}

function readUtf8(der: Uint8Array, cert: CertificateFields, oid: string, required: boolean): string | undefined {
  const value = decode(der, cert, oid);
  if (!value) {
    if (required) throw new Error(`certificate lacks the Postern extension ${oid}; it was not issued by Postern`);
    return undefined;
  }
  if (value.tag !== TAG.utf8String) throw new Error(`certificate extension ${oid} is not a UTF8String`);
  return utf8(der, value);
}

function readRoles(der: Uint8Array, cert: CertificateFields): string[] {
  const value = decode(der, cert, IDENTITY_OIDS.roles);
  if (value?.tag !== TAG.sequence) throw new Error('certificate roles extension is missing or not a SEQUENCE');
  return children(der, value).map((v) => {
    if (v.tag !== TAG.utf8String) throw new Error('certificate roles extension holds a non-string');
    return utf8(der, v);
  });
}

function parseTraits(text: string): Record<string, string[]> {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('certificate traits are not an object');
  for (const [k, v] of Object.entries(value)) {
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new Error(`certificate trait ${k} is not a list of strings`);
  }
  return value as Record<string, string[]>;
}

function parseRoute(text: string): Route {
  const value = JSON.parse(text) as Partial<Route> | null;
  const str = (v: unknown) => typeof v === 'string' && v.length > 0;
  const ok =
    (value?.kind === 'app' && str(value.name)) ||
    (value?.kind === 'db' && str(value.service)) ||
    (value?.kind === 'kube' && str(value.cluster));
  if (!ok) throw new Error('certificate route is malformed');
  return value as Route;
}
