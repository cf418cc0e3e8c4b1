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
});
