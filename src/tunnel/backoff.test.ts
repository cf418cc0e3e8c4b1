import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff.js';

describe('Backoff', () => {
  it('doubles its ceiling up to the cap, with jitter below it, and starts over on reset', () => {
    const top = new Backoff(250, 5000, () => 1);
    expect([1, 2, 3, 4, 5, 6, 7].map(() => top.next())).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000]);
    top.reset();
    expect(top.next()).toBe(250);
    const bottom = new Backoff(250, 5000, () => 0);
    expect(bottom.next()).toBe(50);
  });
});
