import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteAuditLog } from '../audit/sqlite-audit-log.js';
import { PosternError } from '../errors/postern-error.js';
import { SqliteBackend, storePath } from '../storage/sqlite/sqlite-backend.js';
import { tempDir } from '../../test/harness/temp.js';
import { AuthService, type AuthSettings } from './auth-service.js';
import { ensureClusterState } from './cluster-state.js';
import { LOGIN_LIMITS } from './login-limiter.js';
import { hashPassword } from './password.js';
import { newTotpSecret, totpCode, totpStep } from './totp.js';

const PASSWORD = 'correct horse battery staple';

/** An AuthService over a fresh data directory, with users who have PASSWORD (and `totpSecret`, if given). */
async function openAuth(secondFactor: AuthSettings['secondFactor'], users: string[], totpSecret?: string): Promise<{ auth: AuthService; close: () => Promise<void> }> {
  const data = join(tempDir('postern-auth-'), 'data');
  const backend = new SqliteBackend({ path: storePath(data) });
  const audit = new SqliteAuditLog({ path: storePath(data) });
  const auth = new AuthService(backend, await ensureClusterState(backend, 'test'), audit, { secondFactor, certTtlMs: 3_600_000, publicUrl: 'https://test' });
  for (const name of users) {
    await auth.users.create({ name, roles: ['access'], traits: {}, created_by: 'test' });
    await auth.users.setCredentials(name, { password_hash: await hashPassword(PASSWORD), ...(totpSecret ? { totp_secret: totpSecret } : {}) });
  }
  return {
    auth,
    close: async () => {
      await audit.close();
      await backend.close();
    },
  };
}

describe('AuthService logins', () => {
  let auth: AuthService;
  let close: () => Promise<void>;
  beforeAll(async () => ({ auth, close } = await openAuth('off', ['alice', 'bob'])));
  afterAll(() => close());

  const codeOf = (r: PromiseSettledResult<unknown>) => (r.status === 'rejected' ? (r.reason as PosternError).code : 'OK');

  it('checks only as many passwords of a parallel burst as the limit allows', async () => {
    const burst = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => auth.login({ user: 'alice', password: `guess ${i}`, remoteAddr: '203.0.113.9', method: 'web' })));
    const codes = burst.map(codeOf);
    expect(codes.filter((c) => c === 'LOGIN_FAILED')).toHaveLength(LOGIN_LIMITS.userAtAddress);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(60 - LOGIN_LIMITS.userAtAddress);
  });

  it('still lets the real user in from their own address', async () => {
    for (let i = 0; i < 10; i++) await auth.login({ user: 'bob', password: `guess ${i}`, remoteAddr: '203.0.113.10', method: 'web' }).catch(() => {});
    await expect(auth.login({ user: 'bob', password: PASSWORD, remoteAddr: '10.0.0.2', method: 'web' })).resolves.toMatchObject({ name: 'bob' });
  });
});

describe('AuthService logins on several proxies sharing one store', () => {
  it('counts failed logins across the cluster: guesses spread over proxies meet the same limit', async () => {
    const data = join(tempDir('postern-auth-'), 'data');
    const proxies = await Promise.all([0, 1, 2].map(async () => {
      const backend = new SqliteBackend({ path: storePath(data) });
      const audit = new SqliteAuditLog({ path: storePath(data) });
      const auth = new AuthService(backend, await ensureClusterState(backend, 'test'), audit, { secondFactor: 'off', certTtlMs: 3_600_000, publicUrl: 'https://test' });
      return { auth, close: async () => (await audit.close(), await backend.close()) };
    }));
    try {
      const [a] = proxies;
      await a!.auth.users.create({ name: 'dave', roles: ['access'], traits: {}, created_by: 'test' });
      await a!.auth.users.setCredentials('dave', { password_hash: await hashPassword(PASSWORD) });
      const codes: string[] = [];
      // One guess at a time, round robin over the three proxies, as a load balancer would spread them.
      for (let i = 0; i < LOGIN_LIMITS.userAtAddress + 3; i++) {
        codes.push(await proxies[i % 3]!.auth.login({ user: 'dave', password: `guess ${i}`, remoteAddr: '203.0.113.50', method: 'web' }).then(() => 'OK', (e: PosternError) => e.code));
      }
      expect(codes).toEqual([...Array(LOGIN_LIMITS.userAtAddress).fill('LOGIN_FAILED'), 'RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED']);
      // The right password from the same address waits too; from another address it goes in, and clears nothing else's count.
      await expect(proxies[1]!.auth.login({ user: 'dave', password: PASSWORD, remoteAddr: '203.0.113.50', method: 'web' })).rejects.toMatchObject({ code: 'RATE_LIMITED' });
      await expect(proxies[2]!.auth.login({ user: 'dave', password: PASSWORD, remoteAddr: '198.51.100.7', method: 'web' })).resolves.toMatchObject({ name: 'dave' });
    } finally {
      for (const p of proxies) await p.close();
    }
  });
});

describe('AuthService logins with one-time codes', () => {
  const secret = newTotpSecret();
  let auth: AuthService;
  let close: () => Promise<void>;
  beforeAll(async () => ({ auth, close } = await openAuth('otp', ['carol'], secret)));
  afterAll(() => close());

  const login = (password: string, otp: string) => auth.login({ user: 'carol', password, otp, remoteAddr: '10.0.0.3', method: 'cli' });

  it('says a replayed code was used already, not that the password is wrong', async () => {
    const code = totpCode(secret, totpStep());
    await expect(login(PASSWORD, code)).resolves.toMatchObject({ name: 'carol' });
    const replay = login(PASSWORD, code);
    await expect(replay).rejects.toMatchObject({ code: 'OTP_REUSED' });
    await expect(replay).rejects.toThrow('that one-time code was used already, and each code works only once; wait until your authenticator app shows the next code');
  });

  it('still says only "wrong user name, password or one-time code" when the password is wrong, used code or not', async () => {
    const used = totpCode(secret, totpStep());
    await expect(login('not the password at all', used)).rejects.toMatchObject({ code: 'LOGIN_FAILED', message: 'login refused: wrong user name, password or one-time code' });
  });
});
