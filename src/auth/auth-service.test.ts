import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteAuditLog } from '../audit/sqlite-audit-log.js';
import { PosternError } from '../errors/postern-error.js';
import { SqliteBackend, storePath } from '../storage/sqlite/sqlite-backend.js';
import { tempDir } from '../../test/harness/temp.js';
import { AuthService } from './auth-service.js';
import { ensureClusterState } from './cluster-state.js';
import { LOGIN_LIMITS } from './login-limiter.js';
import { hashPassword } from './password.js';

const PASSWORD = 'correct horse battery staple';

describe('AuthService logins', () => {
  let auth: AuthService;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const data = join(tempDir('postern-auth-'), 'data');
    const backend = new SqliteBackend({ path: storePath(data) });
    const audit = new SqliteAuditLog({ path: storePath(data) });
    auth = new AuthService(backend, await ensureClusterState(backend, 'test'), audit, { secondFactor: 'off', certTtlMs: 3_600_000, publicUrl: 'https://test' });
    for (const name of ['alice', 'bob']) {
      await auth.users.create({ name, roles: ['access'], traits: {}, created_by: 'test' });
      await auth.users.setCredentials(name, { password_hash: await hashPassword(PASSWORD) });
    }
    close = async () => {
      await audit.close();
      await backend.close();
    };
  });
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
