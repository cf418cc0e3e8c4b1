import { describe, expect, it } from 'vitest';
import { newTotpSecret, totpCode, totpStep, totpUri, verifyTotp } from './totp.js';

// RFC 6238 appendix B, SHA-1: the secret is the ASCII "12345678901234567890" (base32 below).
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

describe('TOTP', () => {
  it.each([
    [59, '287082'],
    [1111111109, '081804'],
    [1111111111, '050471'],
    [1234567890, '005924'],
    [2000000000, '279037'],
  ])('matches the RFC 6238 test vector at t=%i', (seconds, code) => {
    expect(totpCode(RFC_SECRET, totpStep(seconds * 1000))).toBe(code);
  });

  it('accepts the current code and one step of drift, not more, and never twice', () => {
    const secret = newTotpSecret();
    const now = Date.now();
    const step = totpStep(now);
    expect(verifyTotp(secret, totpCode(secret, step), { now })).toBe(step);
    expect(verifyTotp(secret, totpCode(secret, step - 1), { now })).toBe(step - 1);
    expect(verifyTotp(secret, totpCode(secret, step + 2), { now })).toBeUndefined();
    expect(verifyTotp(secret, totpCode(secret, step), { now, after: step })).toBeUndefined();
    expect(verifyTotp(secret, totpCode(secret, step + 1), { now, after: step })).toBe(step + 1);
    expect(verifyTotp(secret, '12345', { now })).toBeUndefined();
  });

  it('writes an otpauth URI that apps read', () => {
    const uri = new URL(totpUri('ABC', 'alice@example', 'Postern'));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.searchParams.get('secret')).toBe('ABC');
    expect(uri.searchParams.get('issuer')).toBe('Postern');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Postern:alice@example');
  });
});
