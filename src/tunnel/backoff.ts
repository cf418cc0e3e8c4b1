/**
 * Jittered exponential backoff ("full jitter"): the n-th retry waits a random time up to
 * min(cap, base * 2^n). Random waits keep a thousand agents from reconnecting in lockstep after
 * a proxy restart; the cap keeps each of them back within seconds of the proxy.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs = 250,
    private readonly capMs = 5000,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.round(ceiling * (0.2 + 0.8 * this.random()));
  }

  reset(): void {
    this.attempt = 0;
  }
}
