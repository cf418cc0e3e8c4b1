import { describe, expect, it } from 'vitest';
import { addressKey } from '../net/addr.js';
import { AddressLimit } from './address-limit.js';

describe('AddressLimit', () => {
  it('refuses the connection over the limit per address, and takes it back on release', () => {
    const limit = new AddressLimit(2);
    expect(limit.take(addressKey('10.0.0.1'))).toBe(true);
    expect(limit.take(addressKey('::ffff:10.0.0.1'))).toBe(true);
    expect(limit.take(addressKey('10.0.0.1'))).toBe(false);
    expect(limit.take(addressKey('10.0.0.2'))).toBe(true);
    limit.release('10.0.0.1');
    expect(limit.take('10.0.0.1')).toBe(true);
  });

  it('counts IPv6 clients per /64', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff:1:2:3')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::7')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});
