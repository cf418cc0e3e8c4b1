import { isIPv4, isIPv6 } from 'node:net';

/**
 * PROXY protocol v1 (text) and v2 (binary) headers, as sent by L4 load balancers in front of the
 * proxy (nginx `stream` with `proxy_protocol on`, HAProxy `send-proxy[-v2]`, cloud NLBs).
 * https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 *
 * The parser works on whatever bytes have arrived so far and says whether it needs more; it
 * never reads past the header, so the bytes after it belong to the TLS handshake.
 */
export const V1_MAX_LENGTH = 107;
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** v2 header (16 bytes) plus addresses and TLVs. Real edges send well under this. */
export const V2_MAX_LENGTH = 16 + 1024;
const V1_PREFIX = Buffer.from('PROXY ');

export interface ProxyAddress {
  address: string;
  port: number;
}

export type ProxyHeader =
  | { status: 'incomplete' }
  | { status: 'invalid'; reason: string }
  | {
      status: 'ok';
      /** Bytes the header took; the stream continues after them. */
      length: number;
      version: 1 | 2;
      /** Absent for LOCAL (health checks) and UNKNOWN: use the TCP peer's address. */
      source?: ProxyAddress;
      destination?: ProxyAddress;
    };

/** True when `buf` starts like a PROXY header of either version (or could, with more bytes). */
export function looksLikeProxyHeader(buf: Buffer): boolean {
  const n = Math.min(buf.length, 6);
  return buf.subarray(0, n).equals(V1_PREFIX.subarray(0, n)) || buf.subarray(0, Math.min(buf.length, 12)).equals(V2_SIGNATURE.subarray(0, Math.min(buf.length, 12)));
}

export function parseProxyHeader(buf: Buffer): ProxyHeader {
  if (buf.length === 0) return { status: 'incomplete' };
  if (buf[0] === V1_PREFIX[0]) return parseV1(buf);
  if (buf[0] === V2_SIGNATURE[0]) return parseV2(buf);
  return { status: 'invalid', reason: 'the connection did not start with a PROXY protocol header' };
}

function parseV1(buf: Buffer): ProxyHeader {
  const prefixLength = Math.min(buf.length, V1_PREFIX.length);
  if (!buf.subarray(0, prefixLength).equals(V1_PREFIX.subarray(0, prefixLength))) {
    return { status: 'invalid', reason: 'the connection did not start with a PROXY protocol header' };
  }
  const end = buf.indexOf('\r\n');
  if (end < 0) {
    return buf.length >= V1_MAX_LENGTH
      ? { status: 'invalid', reason: `PROXY v1 header longer than ${V1_MAX_LENGTH} bytes` }
      : { status: 'incomplete' };
  }
  if (end + 2 > V1_MAX_LENGTH) return { status: 'invalid', reason: `PROXY v1 header longer than ${V1_MAX_LENGTH} bytes` };
  const parts = buf.toString('latin1', 0, end).split(' ');
  const length = end + 2;
  if (parts[1] === 'UNKNOWN') return { status: 'ok', length, version: 1 };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) {
    return { status: 'invalid', reason: 'malformed PROXY v1 header (expected "PROXY TCP4|TCP6 src dst sport dport")' };
  }
  const isFamily = parts[1] === 'TCP4' ? isIPv4 : isIPv6;
  const [src, dst, sport, dport] = [parts[2]!, parts[3]!, port(parts[4]!), port(parts[5]!)];
  // isIPv6 accepts zone IDs (fe80::1%eth0); a client address never has one.
  if (!isFamily(src) || !isFamily(dst) || src.includes('%') || dst.includes('%') || sport === undefined || dport === undefined) {
    return { status: 'invalid', reason: 'malformed PROXY v1 header addresses or ports' };
  }
  return { status: 'ok', length, version: 1, source: { address: src, port: sport }, destination: { address: dst, port: dport } };
}

function parseV2(buf: Buffer): ProxyHeader {
  const sigLength = Math.min(buf.length, V2_SIGNATURE.length);
  if (!buf.subarray(0, sigLength).equals(V2_SIGNATURE.subarray(0, sigLength))) {
    return { status: 'invalid', reason: 'the connection did not start with a PROXY protocol header' };
  }
  if (buf.length < 16) return { status: 'incomplete' };
  const versionCommand = buf[12]!;
  if (versionCommand >> 4 !== 2) return { status: 'invalid', reason: `unsupported PROXY v2 version ${versionCommand >> 4}` };
  const command = versionCommand & 0x0f;
  if (command > 1) return { status: 'invalid', reason: `unknown PROXY v2 command ${command}` };
  const length = 16 + buf.readUInt16BE(14);
  if (length > V2_MAX_LENGTH) return { status: 'invalid', reason: `PROXY v2 header of ${length} bytes exceeds the ${V2_MAX_LENGTH}-byte limit` };
  if (buf.length < length) return { status: 'incomplete' };
  if (command === 0) return { status: 'ok', length, version: 2 }; // LOCAL: the edge's own health check
  const family = buf[13]! >> 4;
  const transport = buf[13]! & 0x0f;
  if (family > 3 || transport > 2) return { status: 'invalid', reason: `unknown PROXY v2 address family/transport 0x${buf[13]!.toString(16)}` };
  const body = buf.subarray(16, length);
  if (transport !== 1) return family === 0 ? { status: 'ok', length, version: 2 } : { status: 'invalid', reason: 'PROXY v2 header for a non-TCP transport' };
  const layout = V2_INET[family];
  if (layout) {
    const { size, addr, name, format } = layout;
    if (body.length < size) return { status: 'invalid', reason: `PROXY v2 ${name} address block is truncated` };
    return {
      status: 'ok',
      length,
      version: 2,
      source: { address: format(body.subarray(0, addr)), port: body.readUInt16BE(2 * addr) },
      destination: { address: format(body.subarray(addr, 2 * addr)), port: body.readUInt16BE(2 * addr + 2) },
    };
  }
  // AF_UNSPEC or AF_UNIX: no usable address; keep the TCP peer.
  return { status: 'ok', length, version: 2 };
}

/** v2 address families: block size, bytes per address; source and destination addresses come first, then both ports. */
const V2_INET: Record<number, { size: number; addr: number; name: string; format: (b: Buffer) => string }> = {
  1: { size: 12, addr: 4, name: 'IPv4', format: (b) => ipv4(b) },
  2: { size: 36, addr: 16, name: 'IPv6', format: (b) => ipv6(b) },
};

function port(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function ipv4(b: Buffer): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

function ipv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // The WHATWG URL parser prints IPv6 in its canonical compressed form (RFC 5952).
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** Builds a v2 PROXY header (for tests and benchmarks that play the L4 edge). */
export function encodeProxyV2(source: ProxyAddress, destination: ProxyAddress): Buffer {
  const v6 = isIPv6(source.address);
  const body = Buffer.alloc(v6 ? 36 : 12);
  const writeIp = (ip: string, at: number) => {
    if (!v6) ip.split('.').forEach((o, i) => body.writeUInt8(Number(o), at + i));
    else expandIpv6(ip).forEach((g, i) => body.writeUInt16BE(g, at + i * 2));
  };
  writeIp(source.address, 0);
  writeIp(destination.address, v6 ? 16 : 4);
  body.writeUInt16BE(source.port, v6 ? 32 : 8);
  body.writeUInt16BE(destination.port, v6 ? 34 : 10);
  const head = Buffer.alloc(4);
  head[0] = 0x21;
  head[1] = v6 ? 0x21 : 0x11;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, body]);
}

function expandIpv6(ip: string): number[] {
  const [left, right] = ip.split('::') as [string, string | undefined];
  const l = left ? left.split(':') : [];
  const r = right ? right.split(':') : [];
  const fill = right === undefined ? [] : Array(8 - l.length - r.length).fill('0');
  return [...l, ...fill, ...r].map((g) => parseInt(g, 16));
}
