/**
 * Counts the connections open from each client address that have not yet proved who is on them,
 * and refuses more than `max` at once: one client holding idle connections cannot take the whole
 * of proxy.max_connections from everyone else. IPv6 clients are counted per /64, the block one
 * host is usually given, so cycling through its addresses does not multiply the limit: keys are
 * what net/addr.ts addressKey() makes of an address.
 */
export class AddressLimit {
  private readonly open = new Map<string, number>();

  constructor(readonly max: number) {}

  /** Counts one more connection from the address `key`; false (nothing counted) at the limit. */
  take(key: string): boolean {
    const n = this.open.get(key) ?? 0;
    if (n >= this.max) return false;
    this.open.set(key, n + 1);
    return true;
  }

  release(key: string): void {
    const n = (this.open.get(key) ?? 1) - 1;
    if (n > 0) this.open.set(key, n);
    else this.open.delete(key);
  }
}
