/**
 * Caps how many lines, and how many bytes, one kind of event may log per interval, so that a
 * flood of bad connections cannot flood the logs (metrics still count every one). When lines were
 * left out, one summary line per kind says how many, as soon as the interval ends.
 */
export class LogLimiter {
  private readonly windows = new Map<string, { start: number; logged: number; bytes: number; suppressed: number }>();

  constructor(
    private readonly perInterval: number,
    private readonly intervalMs: number,
    private readonly onSuppressed: (kind: string, count: number) => void,
    private readonly bytesPerInterval = 32 * 1024,
  ) {}

  /** Whether a line of about `bytes` may be logged now. */
  admit(kind: string, bytes = 0): boolean {
    const now = Date.now();
    let w = this.windows.get(kind);
    if (!w || now - w.start >= this.intervalMs) {
      w = { start: now, logged: 0, bytes: 0, suppressed: 0 };
      this.windows.set(kind, w);
    }
    if (w.logged < this.perInterval && w.bytes + bytes <= this.bytesPerInterval) {
      w.logged++;
      w.bytes += bytes;
      return true;
    }
    if (w.suppressed++ === 0) {
      const window = w;
      setTimeout(() => {
        this.onSuppressed(kind, window.suppressed);
        if (this.windows.get(kind) === window) this.windows.delete(kind);
      }, window.start + this.intervalMs - now).unref();
    }
    return false;
  }
}
