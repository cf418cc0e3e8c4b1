/**
 * Just enough DER to read a verified certificate's subject name, expiry and extensions, which the
 * proxy does for every new client and agent certificate. A general ASN.1 library builds an object
 * tree for the whole certificate (about 2 ms of CPU each, most of what an agent's reconnect cost
 * the proxy); this walks the bytes and copies nothing. It reads, it never judges: call it only on
 * certificates whose signature was checked. Anything malformed throws with a reason.
 */

/** One DER element: its tag, and where its contents sit in the buffer. */
export interface Der {
  tag: number;
  start: number;
  end: number;
}

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  octetString: 0x04,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  sequence: 0x30,
  set: 0x31,
  utcTime: 0x17,
  generalizedTime: 0x18,
} as const;

/** The element that starts at `offset` (single-byte tags only, which is all X.509 uses here). */
export function readDer(buf: Uint8Array, offset: number, limit = buf.length): Der {
  if (offset + 2 > limit) throw new Error('DER element runs past its end');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new Error('DER multi-byte tags are not used in X.509 certificates');
  let length = buf[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || start + bytes > limit) throw new Error('DER length is malformed');
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + buf[start + i]!;
    start += bytes;
  }
  if (start + length > limit) throw new Error('DER element runs past its end');
  return { tag, start, end: start + length };
}

/** The elements inside a constructed element, in order. */
export function children(buf: Uint8Array, parent: Der): Der[] {
  const out: Der[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const child = readDer(buf, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** An element whose tag must be `tag`. */
export function expectTag(el: Der | undefined, tag: number, what: string): Der {
  if (!el || el.tag !== tag) throw new Error(`${what} is not where X.509 puts it`);
  return el;
}

/** An OBJECT IDENTIFIER's dotted form; a malformed one (empty, unfinished, padded, huge arcs) throws. */
export function oidText(buf: Uint8Array, el: Der): string {
  if (el.start === el.end) throw new Error('an OID is empty');
  const parts: number[] = [];
  let value = 0;
  let arcStart = true;
  for (let i = el.start; i < el.end; i++) {
    const byte = buf[i]!;
    if (arcStart && byte === 0x80) throw new Error('an OID arc is padded');
    if (value > 2 ** 32) throw new Error('an OID arc is too large');
    value = value * 128 + (byte & 0x7f);
    arcStart = (byte & 0x80) === 0;
    if (!arcStart) continue;
    if (parts.length === 0) parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
    else parts.push(value);
    value = 0;
  }
  if (!arcStart) throw new Error('an OID ends in the middle of an arc');
  return parts.join('.');
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The contents as UTF-8; bytes that are not valid UTF-8 throw. */
export function utf8(buf: Uint8Array, el: Der): string {
  try {
    return strictUtf8.decode(buf.subarray(el.start, el.end));
  } catch {
    throw new Error('a string is not valid UTF-8');
  }
}

/** UTCTime (YYMMDDHHMMSSZ, RFC 5280: 50–99 are 19xx) or GeneralizedTime (YYYYMMDDHHMMSSZ). */
export function time(buf: Uint8Array, el: Der): Date {
  const text = utf8(buf, el);
  const m = el.tag === TAG.utcTime ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) throw new Error(`certificate time "${text}" is malformed`);
  let year = Number(m[1]);
  if (el.tag === TAG.utcTime) year += year < 50 ? 2000 : 1900;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

/** What the proxy reads from a certificate: subject common name, notAfter, and extension values by OID. */
export interface CertificateFields {
  commonName: string | undefined;
  notAfter: Date;
  /** Each extension's extnValue (the OCTET STRING, whose contents are the extension's DER), by OID. */
  extensions: Map<string, Der>;
}

const COMMON_NAME = '2.5.4.3';

/** Reads a DER certificate's subject CN, notAfter and extensions (RFC 5280 §4.1). */
export function certificateFields(der: Uint8Array): CertificateFields {
  const cert = expectTag(readDer(der, 0), TAG.sequence, 'the certificate');
  const tbs = children(der, expectTag(children(der, cert)[0], TAG.sequence, 'tbsCertificate'));
  // [0] version is optional; after it: serial, signature, issuer, validity, subject, key, then [1] [2] [3].
  const fields = tbs[0]?.tag === 0xa0 ? tbs.slice(1) : tbs;
  const validity = children(der, expectTag(fields[3], TAG.sequence, 'validity'));
  const notAfter = validity[1];
  if (!notAfter || (notAfter.tag !== TAG.utcTime && notAfter.tag !== TAG.generalizedTime)) throw new Error('notAfter is not where X.509 puts it');
  const out: CertificateFields = { commonName: commonName(der, expectTag(fields[4], TAG.sequence, 'subject')), notAfter: time(der, notAfter), extensions: new Map() };
  const wrapped = fields.slice(6).find((f) => f.tag === 0xa3);
  if (!wrapped) return out;
  for (const ext of children(der, expectTag(children(der, wrapped)[0], TAG.sequence, 'extensions'))) {
    const parts = children(der, expectTag(ext, TAG.sequence, 'an extension'));
    const oid = expectTag(parts[0], TAG.oid, "an extension's OID");
    const value = expectTag(parts[parts.length - 1], TAG.octetString, "an extension's value");
    const name = oidText(der, oid);
    if (out.extensions.has(name)) throw new Error(`extension ${name} appears twice (RFC 5280 §4.2 allows one)`);
    out.extensions.set(name, value);
  }
  return out;
}

function commonName(der: Uint8Array, subject: Der): string | undefined {
  for (const rdn of children(der, subject)) {
    for (const attribute of children(der, expectTag(rdn, TAG.set, 'a name component'))) {
      const [type, value] = children(der, expectTag(attribute, TAG.sequence, 'a name attribute'));
      if (!type || !value || oidText(der, expectTag(type, TAG.oid, 'a name attribute type')) !== COMMON_NAME) continue;
      if (value.tag !== TAG.utf8String && value.tag !== TAG.printableString) throw new Error('the common name is neither a UTF8String nor a PrintableString');
      return utf8(der, value);
    }
  }
  return undefined;
}
