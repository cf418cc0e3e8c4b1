import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import type { AuditLog } from '../../src/audit/audit-log.js';
import { SqliteAuditLog } from '../../src/audit/sqlite-audit-log.js';
import { AuthService } from '../../src/auth/auth-service.js';
import { ensureClusterState } from '../../src/auth/cluster-state.js';
import { hashPassword } from '../../src/auth/password.js';
import type { Backend } from '../../src/storage/backend.js';
import { SqliteBackend, storePath } from '../../src/storage/sqlite/sqlite-backend.js';
import { tempDir } from '../../test/harness/temp.js';
import type { Row } from '../lib/stats.js';

const PASSWORD = 'correct horse battery staple';

/** Runs `count` calls of `fn`, `concurrency` at a time; returns calls per second. */
async function rate(count: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await fn(next++);
  }));
  return count / ((performance.now() - started) / 1000);
}

/** Certificate issues and whole logins per second on one store and audit log (see loginScenario). */
export async function loginRates(backend: Backend, audit: AuditLog, opts: { quick: boolean }): Promise<{ issue: number; login: number; count: number; logins: number }> {
  const cluster = await ensureClusterState(backend, 'bench');
  const auth = new AuthService(backend, cluster, audit, { secondFactor: 'off', certTtlMs: 12 * 3_600_000, publicUrl: 'https://bench' });
  await auth.users.create({ name: 'alice', roles: ['access'], traits: { logins: ['root'] }, created_by: 'bench' });
  await auth.users.setCredentials('alice', { password_hash: await hashPassword(PASSWORD) });
  const user = (await auth.users.get('alice'))!;
  const count = opts.quick ? 50 : 400;
  const keys = Array.from({ length: count }, () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString());

  const issue = await rate(count, 4, (i) => auth.issueUserCertificate(user, keys[i]!, undefined, '127.0.0.1'));
  const logins = opts.quick ? 8 : 60;
  const login = await rate(logins, 4, async (i) => {
    const found = await auth.login({ user: 'alice', password: PASSWORD, remoteAddr: `10.0.0.${i % 250}`, method: 'cli' });
    await auth.issueUserCertificate(found, keys[i]!, undefined, '127.0.0.1');
  });
  return { issue, login, count, logins };
}

/** The embedded store and audit log in a fresh data directory, as a single-proxy cluster has them. */
export function sqliteStore(): { backend: Backend; audit: AuditLog } {
  const dir = tempDir('postern-bench-login-');
  return { backend: new SqliteBackend({ path: storePath(join(dir, 'data')) }), audit: new SqliteAuditLog({ path: storePath(join(dir, 'data')) }) };
}

/**
 * Login throughput on the auth side, in process with the real SQLite store and audit log: the
 * certificate issue alone (key check, signing, audit event), and a whole login (password hash
 * check, user lookup, lock check, audit events, then the certificate). Clients' key pairs are
 * made beforehand: they are made on the users' machines.
 */
export async function loginScenario(opts: { quick: boolean }): Promise<Row[]> {
  const { backend, audit } = sqliteStore();
  const { issue, login, count, logins } = await loginRates(backend, audit, opts);
  await audit.close();
  await backend.close();
  return [
    { scenario: `certificate issue (${count}, 4 at a time)`, figure: `${issue.toFixed(0)}/s`, baseline: '', ratio: NaN, target: '>= 200/s', pass: issue >= 200 },
    {
      scenario: `login + certificate (${logins}, 4 at a time)`,
      figure: `${login.toFixed(0)}/s`,
      baseline: 'scrypt N=2^15 per login',
      ratio: NaN,
      target: '>= 200/s',
      pass: login >= 200,
    },
  ];
}
