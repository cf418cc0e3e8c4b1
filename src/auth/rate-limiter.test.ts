import { describe, expect, it } from 'vitest';
import { WindowLimiter } from './rate-limiter.js';

describe('WindowLimiter', () => {
  it('refuses a key after max failures in the window, until the oldest leaves it', () => {
    const limiter = new WindowLimiter(3, 1000);
    for (const t of [0, 100, 200]) {
      expect(limiter.retryAfter('alice', t)).toBe(0);
      limiter.record('alice', t);
    }
    expect(limiter.retryAfter('alice', 300)).toBe(700);
    expect(limiter.retryAfter('bob', 300)).toBe(0);
    expect(limiter.retryAfter('alice', 1001)).toBe(0);
  });

  it('forgets a key on reset', () => {
    const limiter = new WindowLimiter(1, 1000);
    limiter.record('alice', 0);
    expect(limiter.retryAfter('alice', 1)).toBeGreaterThan(0);
    limiter.reset('alice');
    expect(limiter.retryAfter('alice', 1)).toBe(0);
  });
});
