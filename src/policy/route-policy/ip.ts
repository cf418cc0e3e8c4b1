/**
 * IP addresses and CIDR ranges for `source_ip`, parsed by hand so that a check per connection is a
 * few integer comparisons: the client address is parsed into module scratch space (no allocation)
 * and compared with ranges compiled once.
 *
 * An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, as a dual-stack socket reports IPv4 clients) is
 * the IPv4 address; a mapped range (`::ffff:10.0.0.0/104`) is the IPv4 range (`10.0.0.0/8`).
 */

export interface IpRange {
  /** As written in the policy. */
  readonly text: string;
  readonly family: 4 | 6;
  /** A single address (no prefix length, or /32, /128). */
  readonly single: boolean;
  /** IPv4: network and mask as unsigned 32-bit numbers. */
  readonly v4: number;
  readonly v4mask: number;
  /** IPv6: network and mask as eight 16-bit groups. */
  readonly v6: Uint16Array;
  readonly v6mask: Uint16Array;
}

/** Scratch space for the client address being checked, and the address it holds. */
const client6 = new Uint16Array(8);
let client4 = 0;
let lastAddress: string | undefined;
let lastFamily: 0 | 4 | 6 = 0;

/**
 * Parses a client address into the scratch space: 4 (IPv4 or IPv4-mapped), 6, or 0 for something
 * that is not an address. A zone (`fe80::1%eth0`) is ignored. The same address as last time (every
 * source_ip criterion of one evaluation) is not parsed again.
 */
function readClient(address: string): 0 | 4 | 6 {
  if (address === lastAddress) return lastFamily;
  lastFamily = parseClient(address);
  lastAddress = address;
  return lastFamily;
}

function parseClient(address: string): 0 | 4 | 6 {
  let end = address.indexOf('%');
  if (end === -1) end = address.length;
  if (address.indexOf(':') === -1) {
    const v4 = parseV4(address, 0, end);
    if (v4 === -1) return 0;
    client4 = v4;
    return 4;
  }
  if (!parseV6(address, 0, end, client6)) return 0;
  if (isMapped(client6)) {
    client4 = (client6[6]! * 0x10000 + client6[7]!) >>> 0;
    return 4;
  }
  return 6;
}

function inRange(family: 4 | 6, range: IpRange): boolean {
  if (family !== range.family) return false;
  if (family === 4) return ((client4 & range.v4mask) >>> 0) === range.v4;
  for (let i = 0; i < 8; i++) if ((client6[i]! & range.v6mask[i]!) !== range.v6[i]) return false;
  return true;
}

/** The index of the first range that holds `address`, -1 for none, -2 when `address` is not an IP address. */
export function findRange(ranges: readonly IpRange[], address: string): number {
  const family = readClient(address);
  if (family === 0) return -2;
  for (let i = 0; i < ranges.length; i++) if (inRange(family, ranges[i]!)) return i;
  return -1;
}

/** A range from `10.66.0.0/16`, `fd00::/8` or a plain address, or what is wrong with the text. */
export function parseRange(text: string): IpRange | { problem: string } {
  const slash = text.indexOf('/');
  const addr = slash === -1 ? text : text.slice(0, slash);
  const bad = { problem: `${JSON.stringify(text)} is not an IP address or CIDR range; write an address like 10.0.0.5 or 2001:db8::5, or a range like 10.66.0.0/16 or fd00::/8` };
  if (addr.includes('%')) return { problem: `${JSON.stringify(text)} has a zone (%…); write the address without it` };
  const v6 = addr.includes(':');
  const groups = new Uint16Array(8);
  let v4 = 0;
  if (v6) {
    if (!parseV6(addr, 0, addr.length, groups)) return bad;
  } else {
    v4 = parseV4(addr, 0, addr.length);
    if (v4 === -1) return bad;
  }
  const max = v6 ? 128 : 32;
  let prefix = max;
  if (slash !== -1) {
    const digits = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(digits) || Number(digits) > max) {
      return { problem: `${JSON.stringify(text)} has an invalid prefix length; an ${v6 ? 'IPv6' : 'IPv4'} range takes /0 to /${max}` };
    }
    prefix = Number(digits);
  }
  // A mapped range is the IPv4 range, as mapped client addresses are IPv4 addresses.
  if (v6 && isMapped(groups) && prefix >= 96) return finish(text, 4, (groups[6]! * 0x10000 + groups[7]!) >>> 0, groups, prefix - 96);
  return finish(text, v6 ? 6 : 4, v4, groups, prefix);
}

function finish(text: string, family: 4 | 6, v4: number, groups: Uint16Array, prefix: number): IpRange | { problem: string } {
  if (family === 4) {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    const net = (v4 & mask) >>> 0;
    if (net !== v4) return hostBits(text, `${formatV4(net)}/${prefix}`, prefix);
    return { text, family, single: prefix === 32, v4: net, v4mask: mask, v6: new Uint16Array(8), v6mask: new Uint16Array(8) };
  }
  const mask = new Uint16Array(8);
  const net = new Uint16Array(8);
  for (let i = 0; i < 8; i++) {
    const bits = Math.max(0, Math.min(16, prefix - i * 16));
    mask[i] = bits === 0 ? 0 : (0xffff << (16 - bits)) & 0xffff;
    net[i] = groups[i]! & mask[i]!;
  }
  if (net.some((g, i) => g !== groups[i])) return hostBits(text, `${formatV6(net)}/${prefix}`, prefix);
  return { text, family, single: prefix === 128, v4: 0, v4mask: 0, v6: net, v6mask: mask };
}

/** `10.66.1.7/16` is refused rather than read as 10.66.0.0/16: it may be a typo for a single address. */
function hostBits(text: string, network: string, prefix: number): { problem: string } {
  return { problem: `${JSON.stringify(text)} has bits set after its first ${prefix}; write the range as ${network}, or the single address without a prefix` };
}

function isMapped(g: Uint16Array): boolean {
  return g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff;
}

/** Dotted-quad IPv4 between `from` and `to` as an unsigned number, or -1. Leading zeros are refused (010 is octal to some tools). */
function parseV4(s: string, from: number, to: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** IPv6 text (with `::` and an optional IPv4 tail) between `from` and `to` into eight groups. */
function parseV6(s: string, from: number, to: number, out: Uint16Array): boolean {
  let n = 0;
  let gap = -1;
  let i = from;
  if (s.charCodeAt(i) === 58) {
    if (s.charCodeAt(i + 1) !== 58) return false;
    gap = 0;
    i += 2;
  }
  while (i < to) {
    let end = i;
    let value = 0;
    let dot = false;
    for (; end < to; end++) {
      const c = s.charCodeAt(end);
      if (c === 58) break;
      if (c === 46) dot = true;
      const h = hexValue(c);
      if (h === -1 && c !== 46) return false;
      value = value * 16 + (h === -1 ? 0 : h);
    }
    if (dot) {
      // An IPv4 tail: the last two groups.
      if (end !== to || n > 6) return false;
      const v4 = parseV4(s, i, end);
      if (v4 === -1) return false;
      out[n++] = Math.floor(v4 / 0x10000);
      out[n++] = v4 & 0xffff;
      break;
    }
    if (end === i || end - i > 4 || n >= 8) return false;
    out[n++] = value;
    if (end === to) break;
    // At a colon: `::` once, otherwise a single colon followed by another group.
    if (s.charCodeAt(end + 1) === 58) {
      if (gap !== -1) return false;
      gap = n;
      i = end + 2;
    } else {
      i = end + 1;
      if (i === to) return false;
    }
  }
  if (gap === -1) return n === 8;
  if (n > 7) return false;
  const tail = n - gap;
  for (let k = 0; k < tail; k++) out[7 - k] = out[n - 1 - k]!;
  for (let k = gap; k < 8 - tail; k++) out[k] = 0;
  return true;
}

function formatV4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** RFC 5952 form: lower-case, the longest run of two or more zero groups as `::`. */
export function formatV6(g: Uint16Array): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (from: number, to: number) => Array.from(g.subarray(from, to), (x) => x.toString(16)).join(':');
  return best === -1 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}
