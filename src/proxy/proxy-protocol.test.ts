import { describe, expect, it } from 'vitest';
import { encodeProxyV2, looksLikeProxyHeader, parseProxyHeader, V2_MAX_LENGTH, V2_SIGNATURE } from './proxy-protocol.js';

const tlsStart = Buffer.from([0x16, 0x03, 0x01]);

describe('PROXY protocol v1', () => {
  it('parses TCP4 and TCP6 and stops at the header', () => {
    const head = Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51234 3080\r\n');
    const parsed = parseProxyHeader(Buffer.concat([head, tlsStart]));
    expect(parsed).toEqual({
      status: 'ok',
      length: head.length,
      version: 1,
      source: { address: '203.0.113.7', port: 51234 },
      destination: { address: '10.0.0.1', port: 3080 },
    });
    expect(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 ::1 1 2\r\n'))).toMatchObject({ status: 'ok', source: { address: '2001:db8::1' } });
  });

  it('keeps the peer address for UNKNOWN', () => {
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toEqual({ status: 'ok', length: 15, version: 1 });
  });

  it('asks for more bytes while the header is short, and refuses one that never ends', () => {
    expect(parseProxyHeader(Buffer.from('PRO'))).toEqual({ status: 'incomplete' });
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4'))).toEqual({ status: 'incomplete' });
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 ' + '1'.repeat(200)))).toMatchObject({ status: 'invalid', reason: expect.stringMatching(/longer than 107/) });
  });

  it('refuses malformed headers', () => {
    for (const text of ['PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n', 'PROXY TCP4 ::1 ::1 1 2\r\n', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n', 'PROXY TCP4 1.2.3.4\r\n']) {
      expect(parseProxyHeader(Buffer.from(text)).status).toBe('invalid');
    }
    expect(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n'))).toMatchObject({ status: 'invalid', reason: expect.stringMatching(/did not start with a PROXY/) });
    expect(parseProxyHeader(tlsStart).status).toBe('invalid');
  });
});

describe('PROXY protocol v2', () => {
  it('round-trips IPv4 and IPv6 headers', () => {
    const v4 = encodeProxyV2({ address: '198.51.100.20', port: 40000 }, { address: '10.1.2.3', port: 443 });
    expect(parseProxyHeader(Buffer.concat([v4, tlsStart]))).toEqual({
      status: 'ok',
      length: 28,
      version: 2,
      source: { address: '198.51.100.20', port: 40000 },
      destination: { address: '10.1.2.3', port: 443 },
    });
    const v6 = encodeProxyV2({ address: '2001:db8::7', port: 1 }, { address: '::1', port: 2 });
    expect(parseProxyHeader(v6)).toMatchObject({ status: 'ok', length: 52, source: { address: '2001:db8::7', port: 1 }, destination: { address: '::1' } });
  });

  it('accepts LOCAL (health checks) without an address', () => {
    const local = Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
    expect(parseProxyHeader(local)).toEqual({ status: 'ok', length: 16, version: 2 });
  });

  it('waits for the whole header, and refuses oversized or foreign ones', () => {
    const v4 = encodeProxyV2({ address: '1.2.3.4', port: 1 }, { address: '5.6.7.8', port: 2 });
    for (let cut = 1; cut < v4.length; cut++) expect(parseProxyHeader(v4.subarray(0, cut))).toEqual({ status: 'incomplete' });
    const huge = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])]);
    expect(parseProxyHeader(huge)).toMatchObject({ status: 'invalid', reason: expect.stringContaining(`${V2_MAX_LENGTH}-byte limit`) });
    const v3 = Buffer.concat([V2_SIGNATURE, Buffer.from([0x31, 0x11, 0x00, 0x0c]), Buffer.alloc(12)]);
    expect(parseProxyHeader(v3)).toMatchObject({ status: 'invalid', reason: 'unsupported PROXY v2 version 3' });
    const family5 = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x51, 0x00, 0x0c]), Buffer.alloc(12)]);
    expect(parseProxyHeader(family5)).toMatchObject({ status: 'invalid', reason: expect.stringMatching(/unknown PROXY v2 address family/) });
    const udp = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x12, 0x00, 0x0c]), Buffer.alloc(12)]);
    expect(parseProxyHeader(udp).status).toBe('invalid');
    const short = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0x00, 0x04]), Buffer.alloc(4)]);
    expect(parseProxyHeader(short)).toMatchObject({ status: 'invalid', reason: expect.stringMatching(/truncated/) });
  });

  it('tells a PROXY header from TLS and HTTP', () => {
    expect(looksLikeProxyHeader(Buffer.from('PROXY TCP4'))).toBe(true);
    expect(looksLikeProxyHeader(V2_SIGNATURE.subarray(0, 5))).toBe(true);
    expect(looksLikeProxyHeader(tlsStart)).toBe(false);
    expect(looksLikeProxyHeader(Buffer.from('POST / HTTP/1.1'))).toBe(false);
  });

  it('never throws on random bytes', () => {
    for (let i = 0; i < 2000; i++) {
      const len = Math.floor(Math.random() * 64);
      const buf = Buffer.from(Array.from({ length: len }, () => Math.floor(Math.random() * 256)));
      if (i % 2) V2_SIGNATURE.copy(buf, 0, 0, Math.min(12, len));
      expect(['ok', 'invalid', 'incomplete']).toContain(parseProxyHeader(buf).status);
    }
  });
});
