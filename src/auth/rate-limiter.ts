/**
 * Counts events per key (failed logins per user, device codes per client address) in a sliding
 * window. Once a key has `max` events inside `windowMs`, it is refused until the oldest of them
 * leaves the window. In memory: one process counts its own; logins are also counted across the
 * cluster, in the store (login-failures.ts).
 */
export class WindowLimiter {
  private readonly events = new Map<string, number[]>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Milliseconds until the key may try again, or 0 when it may now. */
  retryAfter(key: string, now = Date.now()): number {
    const recent = this.recent(key, now);
    return recent.length >= this.max ? recent[0]! + this.windowMs - now : 0;
  }

  record(key: string, now = Date.now()): void {
    const recent = this.recent(key, now);
    recent.push(now);
    this.events.set(key, recent);
    if (this.events.size > 100_000) this.prune(now);
  }

  /** Takes back one event recorded at `at` (an attempt counted up front that then succeeded). */
  unrecord(key: string, at: number): void {
    const times = this.events.get(key);
    const i = times?.indexOf(at) ?? -1;
    if (i >= 0) times!.splice(i, 1);
  }

  reset(key: string): void {
    this.events.delete(key);
  }

  private recent(key: string, now: number): number[] {
    return (this.events.get(key) ?? []).filter((t) => t > now - this.windowMs);
  }

  /** Bounds memory under a flood of distinct keys. */
  private prune(now: number): void {
    for (const [key, times] of this.events) if (!times.some((t) => t > now - this.windowMs)) this.events.delete(key);
  }
}
