/**
 * Counts failures per key (a user name, a client address) in a sliding window. Once a key has
 * `max` failures inside `windowMs`, it is refused until the oldest of them leaves the window.
 * In memory: one auth process counts its own attempts (a cluster of several auth processes
 * would move this into storage).
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Milliseconds until the key may try again, or 0 when it may now. */
  retryAfter(key: string, now = Date.now()): number {
    const recent = this.recent(key, now);
    return recent.length >= this.max ? recent[0]! + this.windowMs - now : 0;
  }

  fail(key: string, now = Date.now()): void {
    const recent = this.recent(key, now);
    recent.push(now);
    this.failures.set(key, recent);
    if (this.failures.size > 100_000) this.prune(now);
  }

  /** Takes back one failure counted at `at` (an attempt counted up front that then succeeded). */
  unfail(key: string, at: number): void {
    const times = this.failures.get(key);
    const i = times?.indexOf(at) ?? -1;
    if (i >= 0) times!.splice(i, 1);
  }

  reset(key: string): void {
    this.failures.delete(key);
  }

  private recent(key: string, now: number): number[] {
    return (this.failures.get(key) ?? []).filter((t) => t > now - this.windowMs);
  }

  /** Bounds memory under a flood of distinct keys. */
  private prune(now: number): void {
    for (const [key, times] of this.failures) if (!times.some((t) => t > now - this.windowMs)) this.failures.delete(key);
  }
}
