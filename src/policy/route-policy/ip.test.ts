import { describe, expect, it } from 'vitest';
import { findRange, formatV6, parseRange, type IpRange } from './ip.js';

function ranges(...texts: string[]): IpRange[] {
  return texts.map((t) => {
    const r = parseRange(t);
    if ('problem' in r) throw new Error(r.problem);
    return r;
  });
}

describe('address ranges', () => {
  // [ranges, client address, index of the range that holds it; -1 none, -2 not an address]
  const cases: [string[], string, number][] = [
    [['10.0.0.0/8'], '10.255.255.255', 0],
    [['10.0.0.0/8'], '11.0.0.0', -1],
    [['10.0.0.0/8'], '9.255.255.255', -1],
    [['0.0.0.0/0'], '255.255.255.255', 0],
    [['255.255.255.255'], '255.255.255.255', 0],
    [['128.0.0.0/1'], '200.1.1.1', 0],
    [['128.0.0.0/1'], '127.1.1.1', -1],
    [['10.66.0.0/16'], '10.66.1.7', 0],
    [['10.66.0.0/16'], '10.67.1.7', -1],
    [['10.66.1.7'], '10.66.1.7', 0],
    [['10.66.1.7'], '10.66.1.8', -1],
    [['192.168.0.0/24', '10.0.0.0/8'], '10.1.1.1', 1],
    [['10.0.0.0/8', '10.1.0.0/16'], '10.1.1.1', 0],
    [['2001:db8::/32'], '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', 0],
    [['2001:db8::/32'], '2001:db9::', -1],
    [['2001:db8::/33'], '2001:db8:7fff::1', 0],
    [['2001:db8::/33'], '2001:db8:8000::1', -1],
    [['::/0'], '::', 0],
    [['::1'], '::1', 0],
    [['::1'], '0:0:0:0:0:0:0:1', 0],
    [['fd00::/8'], 'FD12:3456::1', 0],
    [['fe80::/10'], 'fe80::1%25eth0', 0],
    [['fe80::/10'], 'fe80::1%eth0', 0],
    [['1:2:3:4:5:6:7:8'], '1:2:3:4:5:6:7:8', 0],
    [['1::8'], '1:0:0:0:0:0:0:8', 0],
    [['1:2:3:4:5:6::'], '1:2:3:4:5:6:0:0', 0],
    [['64:ff9b::/96'], '64:ff9b::192.0.2.1', 0], // an IPv4 tail in a non-mapped address stays IPv6
    [['192.0.2.1'], '64:ff9b::192.0.2.1', -1],
    // IPv4-mapped clients are IPv4.
    [['10.0.0.0/8'], '::ffff:10.1.2.3', 0],
    [['10.0.0.0/8'], '::FFFF:a01:203', 0],
    [['10.0.0.0/8'], '0:0:0:0:0:ffff:10.1.2.3', 0],
    [['::/0'], '::ffff:10.1.2.3', -1],
    [['::ffff:0:0/96'], '10.1.2.3', 0], // a mapped range is the IPv4 range (here 0.0.0.0/0)
    [['::ffff:10.0.0.0/104'], '::ffff:10.9.9.9', 0],
    [['::ffff:10.0.0.0/104'], '11.0.0.1', -1],
    [['10.0.0.0/8', '::/0'], '10.1.1.1', 0],
    // Not addresses.
    [['0.0.0.0/0', '::/0'], '', -2],
    [['0.0.0.0/0', '::/0'], 'localhost', -2],
    [['0.0.0.0/0', '::/0'], '10.1.1', -2],
    [['0.0.0.0/0', '::/0'], '10.1.1.1.1', -2],
    [['0.0.0.0/0', '::/0'], '10.1.1.256', -2],
    [['0.0.0.0/0', '::/0'], '10.01.1.1', -2],
    [['0.0.0.0/0', '::/0'], '10.1.1.1:443', -2],
    [['0.0.0.0/0', '::/0'], '1:2:3:4:5:6:7', -2],
    [['0.0.0.0/0', '::/0'], '1:2:3:4:5:6:7:8:9', -2],
    [['0.0.0.0/0', '::/0'], '1::2::3', -2],
    [['0.0.0.0/0', '::/0'], '1:2:3:4:5:6:7:8::', -2],
    [['0.0.0.0/0', '::/0'], ':1::', -2],
    [['0.0.0.0/0', '::/0'], '1:', -2],
    [['0.0.0.0/0', '::/0'], '12345::', -2],
    [['0.0.0.0/0', '::/0'], 'g::1', -2],
    [['0.0.0.0/0', '::/0'], '::1.2.3.4.5', -2],
    [['0.0.0.0/0', '::/0'], '1.2.3.4::', -2],
  ];
  it.each(cases)('%j holds %s at %i', (texts, address, index) => {
    expect(findRange(ranges(...texts), address)).toBe(index);
  });
});

describe('range parsing', () => {
  it('knows a single address from a range', () => {
    expect(ranges('10.0.0.1', '10.0.0.1/32', '10.0.0.0/31', '::1', '::1/128', '::/127').map((r) => [r.family, r.single])).toEqual([
      [4, true],
      [4, true],
      [4, false],
      [6, true],
      [6, true],
      [6, false],
    ]);
  });

  const bad = (t: string) => `${JSON.stringify(t)} is not an IP address or CIDR range; write an address like 10.0.0.5 or 2001:db8::5, or a range like 10.66.0.0/16 or fd00::/8`;
  const problems: [string, string][] = [
    ['10.0.0.0/33', '"10.0.0.0/33" has an invalid prefix length; an IPv4 range takes /0 to /32'],
    ['::/129', '"::/129" has an invalid prefix length; an IPv6 range takes /0 to /128'],
    ['10.0.0.0/', '"10.0.0.0/" has an invalid prefix length; an IPv4 range takes /0 to /32'],
    ['10.0.0.0/08', '"10.0.0.0/08" has an invalid prefix length; an IPv4 range takes /0 to /32'],
    ['10.0.0.0/-1', '"10.0.0.0/-1" has an invalid prefix length; an IPv4 range takes /0 to /32'],
    ['10.0.0.0/8/8', '"10.0.0.0/8/8" has an invalid prefix length; an IPv4 range takes /0 to /32'],
    ['10.66.1.7/16', '"10.66.1.7/16" has bits set after its first 16; write the range as 10.66.0.0/16, or the single address without a prefix'],
    ['10.0.0.1/0', '"10.0.0.1/0" has bits set after its first 0; write the range as 0.0.0.0/0, or the single address without a prefix'],
    ['2001:db8::1/32', '"2001:db8::1/32" has bits set after its first 32; write the range as 2001:db8::/32, or the single address without a prefix'],
    ['::ffff:10.1.0.0/104', '"::ffff:10.1.0.0/104" has bits set after its first 8; write the range as 10.0.0.0/8, or the single address without a prefix'],
    ['fe80::1%eth0', '"fe80::1%eth0" has a zone (%…); write the address without it'],
    ['10.0.0', bad('10.0.0')],
    ['10.0.0.0.0/8', bad('10.0.0.0.0/8')],
    ['010.0.0.0/8', bad('010.0.0.0/8')],
    ['10.0.0.256', bad('10.0.0.256')],
    [' 10.0.0.1', bad(' 10.0.0.1')],
    ['example.com', bad('example.com')],
    ['', bad('')],
    ['/8', bad('/8')],
    ['1::2::3/64', bad('1::2::3/64')],
  ];
  it.each(problems)('refuses %s', (text, problem) => {
    expect(parseRange(text)).toEqual({ problem });
  });
});

describe('IPv6 formatting', () => {
  const g = (...groups: number[]) => Uint16Array.from(groups);
  it.each([
    [g(0, 0, 0, 0, 0, 0, 0, 0), '::'],
    [g(0, 0, 0, 0, 0, 0, 0, 1), '::1'],
    [g(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), '2001:db8::'],
    [g(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1), '2001:db8:0:1::1'], // a single zero group is not compressed
    [g(1, 0, 0, 2, 0, 0, 0, 3), '1:0:0:2::3'], // the longest run is
    [g(1, 2, 3, 4, 5, 6, 7, 8), '1:2:3:4:5:6:7:8'],
  ])('%j is %s', (groups, text) => {
    expect(formatV6(groups)).toBe(text);
  });
});
