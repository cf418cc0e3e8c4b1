import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateKeyPair, x509 } from './crypto.js';
import { certificateFields, oidText, readDer, TAG } from './der.js';

const keys = await generateKeyPair();

async function selfSigned(name: string, notAfter: Date, extensions: x509.Extension[] = []): Promise<Uint8Array> {
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '0a',
    name,
    notBefore: new Date(Date.now() - 60_000),
    notAfter,
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions,
  });
  return new Uint8Array(cert.rawData);
}

describe('certificateFields', () => {
  it('reads what Node reads: the subject CN and notAfter, in UTCTime and GeneralizedTime', async () => {
    for (const notAfter of [new Date('2031-05-06T07:08:09Z'), new Date('2051-01-02T03:04:05Z')]) {
      const der = await selfSigned('O=Acme, CN=alice@example.com', notAfter);
      const fields = certificateFields(der);
      expect(fields.commonName).toBe('alice@example.com');
      expect(fields.notAfter.toISOString()).toBe(notAfter.toISOString());
      expect(Date.parse(new X509Certificate(der).validTo)).toBe(notAfter.getTime());
    }
  });

  it('reads long names (multi-byte lengths) and every extension by OID', async () => {
    const long = 'x'.repeat(300);
    const der = await selfSigned(`CN=${long}`, new Date(Date.now() + 86_400_000), [
      new x509.BasicConstraintsExtension(false),
      new x509.Extension('1.3.9999.1597.3', false, new Uint8Array([TAG.utf8String, 0x02, 0x68, 0x69])),
    ]);
    const fields = certificateFields(der);
    expect(fields.commonName).toBe(long);
    expect([...fields.extensions.keys()]).toEqual(['2.5.29.19', '1.3.9999.1597.3']);
    const custom = fields.extensions.get('1.3.9999.1597.3')!;
    expect(Buffer.from(der.subarray(custom.start, custom.end))).toEqual(Buffer.from([TAG.utf8String, 0x02, 0x68, 0x69]));
  });

  it('has no common name when the subject has none', async () => {
    expect(certificateFields(await selfSigned('O=Acme', new Date(Date.now() + 86_400_000))).commonName).toBeUndefined();
  });

  it('throws (never hangs, never reads past the end) on every truncation and on garbage', async () => {
    const der = await selfSigned('CN=bob', new Date(Date.now() + 86_400_000));
    for (let cut = 0; cut < der.length; cut++) expect(() => certificateFields(der.subarray(0, cut))).toThrow();
    expect(() => certificateFields(Buffer.from('not a certificate at all'))).toThrow(/X\.509|DER/);
    expect(() => readDer(Buffer.from([0x30, 0x85, 1, 1, 1, 1, 1]), 0)).toThrow(/length is malformed/);
  });
});

describe('oidText', () => {
  const oid = (...bytes: number[]) => {
    const der = Buffer.from([0x06, bytes.length, ...bytes]);
    return oidText(der, readDer(der, 0));
  };

  it('decodes multi-byte arcs', () => {
    expect(oid(0x2b, 0xce, 0x0f, 0x8c, 0x3d, 0x01, 0x02, 0x03)).toBe('1.3.9999.1597.1.2.3');
    expect(oid(0x55, 0x04, 0x03)).toBe('2.5.4.3');
  });

  it('refuses OIDs that could be read as another: unfinished, padded, empty or huge', () => {
    expect(() => oid(0x55, 0x04, 0x83)).toThrow(/middle of an arc/);
    expect(() => oid(0x55, 0x80, 0x04)).toThrow(/padded/);
    expect(() => oid()).toThrow(/empty/);
    expect(() => oid(0x55, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)).toThrow(/too large/);
  });
});

describe('certificateFields on crafted certificates', () => {
  it('refuses a repeated extension, a common name that is not UTF-8, and multi-byte tags', async () => {
    const ext = new x509.Extension('1.3.9999.1597.3', false, new Uint8Array([TAG.utf8String, 0x00]));
    expect(() => certificateFields(Buffer.alloc(0))).toThrow();
    await expect(selfSigned('CN=x', new Date(Date.now() + 86_400_000), [ext, ext]).then(certificateFields)).rejects.toThrow(/appears twice/);
    const der = Buffer.from(await selfSigned('CN=ab', new Date(Date.now() + 86_400_000)));
    // The last "ab": the issuer (the same name, self-signed) comes before the subject.
    const cn = Math.max(der.lastIndexOf(Buffer.from([TAG.utf8String, 0x02, 0x61, 0x62])), der.lastIndexOf(Buffer.from([TAG.printableString, 0x02, 0x61, 0x62])));
    expect(cn).toBeGreaterThan(0);
    der[cn + 2] = 0xff; // not UTF-8
    expect(() => certificateFields(der)).toThrow(/not valid UTF-8/);
    der[cn] = 0x1e; // BMPString
    expect(() => certificateFields(der)).toThrow(/neither a UTF8String nor a PrintableString/);
    expect(() => readDer(Buffer.from([0x1f, 0x81, 0x00]), 0)).toThrow(/multi-byte tags/);
  });
});
