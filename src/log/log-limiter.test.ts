import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LogLimiter } from './log-limiter.js';

describe('LogLimiter', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('admits a few lines per interval per kind and reports the rest once the interval ends', () => {
    const reports: [string, number][] = [];
    const limiter = new LogLimiter(2, 1000, (kind, n) => reports.push([kind, n]));
    expect([1, 2, 3, 4, 5].map(() => limiter.admit('not_tls'))).toEqual([true, true, false, false, false]);
    expect(limiter.admit('plain_http')).toBe(true);
    expect(reports).toEqual([]);
    vi.advanceTimersByTime(1000);
    expect(reports).toEqual([['not_tls', 3]]);
    expect(limiter.admit('not_tls')).toBe(true);
    vi.advanceTimersByTime(5000);
    expect(reports).toHaveLength(1);
  });

  it('also caps the bytes per interval, so a few huge lines count as many', () => {
    const reports: [string, number][] = [];
    const limiter = new LogLimiter(20, 1000, (kind, n) => reports.push([kind, n]), 10_000);
    expect([4000, 4000, 4000, 4000, 100].map((bytes) => limiter.admit('tls_error', bytes))).toEqual([true, true, false, false, true]);
    vi.advanceTimersByTime(1000);
    expect(reports).toEqual([['tls_error', 2]]);
  });
});
