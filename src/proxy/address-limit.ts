import { isIPv6 } from 'node:net';

/**
 * Counts the connections open from each client address that have not yet proved who is on them,
 * and refuses more than `max` at once: one client holding idle connections cannot take the whole
 * of proxy.max_connections from everyone else. IPv6 clients are counted per /64, the block one
 * host is usually given, so cycling through its addresses does not multiply the limit.
 */
export class AddressLimit {
  private readonly open = new Map<string, number>();

  constructor(readonly max: number) {}

  /** Counts one more connection from `address`; returns the key to release, or undefined at the limit. */
  take(address: string): string | undefined {
    const key = addressKey(address);
    const n = this.open.get(key) ?? 0;
    if (n >= this.max) return undefined;
    this.open.set(key, n + 1);
    return key;
  }

  release(key: string): void {
    const n = (this.open.get(key) ?? 1) - 1;
    if (n > 0) this.open.set(key, n);
    else this.open.delete(key);
  }
}

/** An IPv4 address as it is (unwrapped from `::ffff:`), an IPv6 address as its /64 prefix. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head, tail] = address.toLowerCase().split('%')[0]!.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
