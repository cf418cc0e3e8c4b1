import { describe, expect, it } from 'vitest';
import { LOGIN_LIMITS, LoginLimiter, type LoginAttempt } from './login-limiter.js';

const began = (r: number | LoginAttempt): r is LoginAttempt => typeof r !== 'number';

describe('LoginLimiter', () => {
  it('counts attempts when they start, so a parallel burst meets the limit', () => {
    const limiter = new LoginLimiter();
    // 250 attempts begun before any finishes: only the first few may go on to check a password.
    const started = Array.from({ length: 250 }, () => limiter.begin('alice', '10.0.0.1', 1000)).filter(began);
    expect(started).toHaveLength(LOGIN_LIMITS.userAtAddress);
  });

  it('does not lock the user out of other addresses after failures from one', () => {
    const limiter = new LoginLimiter();
    for (let i = 0; i < 30; i++) limiter.begin('alice', '203.0.113.9', 1000);
    expect(limiter.begin('alice', '203.0.113.9', 1000)).toBeGreaterThan(0);
    expect(began(limiter.begin('alice', '10.0.0.1', 1000))).toBe(true);
  });

  it('has a per-user ceiling across addresses, and a per-address ceiling across user names', () => {
    const limiter = new LoginLimiter();
    for (let i = 0; i < LOGIN_LIMITS.user; i++) expect(began(limiter.begin('alice', `198.51.100.${i}`, 1000))).toBe(true);
    expect(limiter.begin('alice', '10.0.0.1', 1000)).toBeGreaterThan(0);
    for (let i = 0; i < LOGIN_LIMITS.address; i++) expect(began(limiter.begin(`user${i}`, '192.0.2.1', 1000))).toBe(true);
    expect(limiter.begin('bob', '192.0.2.1', 1000)).toBeGreaterThan(0);
  });

  it('takes back attempts that succeed or are withdrawn, and a success starts the address afresh', () => {
    const limiter = new LoginLimiter();
    for (let i = 0; i < LOGIN_LIMITS.userAtAddress - 1; i++) limiter.begin('alice', '10.0.0.1', 1000);
    const last = limiter.begin('alice', '10.0.0.1', 1000) as LoginAttempt;
    last.succeeded();
    for (let i = 0; i < LOGIN_LIMITS.userAtAddress; i++) (limiter.begin('alice', '10.0.0.1', 1000) as LoginAttempt).withdrawn();
    expect(began(limiter.begin('alice', '10.0.0.1', 1000))).toBe(true);
  });

  it('lets a key try again once its failures leave the window', () => {
    const limiter = new LoginLimiter();
    for (let i = 0; i < LOGIN_LIMITS.userAtAddress; i++) limiter.begin('alice', '10.0.0.1', 1000);
    expect(limiter.begin('alice', '10.0.0.1', 1000 + LOGIN_LIMITS.windowMs - 1)).toBe(1);
    expect(began(limiter.begin('alice', '10.0.0.1', 1000 + LOGIN_LIMITS.windowMs))).toBe(true);
  });
});
