import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { havePostgresServer, ThrowawayDatabases } from '../../../test/harness/pg-databases.js';
import { isPosternError } from '../../errors/postern-error.js';
import type { WatchEvent, Watcher } from '../backend.js';
import { backendComplianceSuite } from '../compliance.js';
import { PostgresBackend } from './postgres-backend.js';
import { MIGRATIONS } from './schema.js';

const worker = fileURLToPath(new URL('./compliance-worker.ts', import.meta.url));
const databases = new ThrowawayDatabases();
afterAll(() => databases.dropAll());

const serverUp = await havePostgresServer();

describe.runIf(serverUp)('postgres backend', () => {
  let url = '';
  backendComplianceSuite('postgres', {
    async prepare() {
      url = await databases.create();
    },
    fresh() {
      const connectionString = url;
      return {
        open: () => new PostgresBackend({ connectionString, sweepIntervalMs: 100 }),
        workerArgv: (op, ...args) => [process.execPath, '--import', 'tsx', worker, connectionString, op, ...args],
      };
    },
  });

  it('brings a new database to the newest schema once, with proxies starting together, and refuses a newer one', async () => {
    const connectionString = await databases.create();
    const proxies = Array.from({ length: 4 }, () => new PostgresBackend({ connectionString }));
    await Promise.all(proxies.map((p, i) => p.put(`/started/${i}`, 'yes')));
    expect((await proxies[0]!.range('/started/')).length).toBe(4);
    const versions = await sql(connectionString, 'SELECT version FROM postern_schema');
    expect(versions).toEqual([{ version: MIGRATIONS.length }]);
    await Promise.all(proxies.map((p) => p.close()));

    await sql(connectionString, `INSERT INTO postern_schema VALUES (${MIGRATIONS.length + 1})`);
    const older = new PostgresBackend({ connectionString });
    await expect(older.get('/x')).rejects.toSatisfy((e) => isPosternError(e, 'STORAGE_UNAVAILABLE') && /schema version 2, newer than this Postern knows \(1\): upgrade Postern/.test((e as Error).message));
    await older.close();
  });

  it('watch: after its connection is terminated (pg_terminate_backend), reconnects and misses no change', async () => {
    const connectionString = await databases.create();
    const b = new PostgresBackend({ connectionString });
    const writer = new PostgresBackend({ connectionString });
    try {
      const w = b.watch('/k/');
      await w.ready;
      await writer.put('/k/before', '1');
      const [first] = await take(w, 1);
      expect(first?.type === 'put' && first.item.key).toBe('/k/before');
      // Every connection of the watching store, its listener's and its pool's alike.
      const ended = await sql(connectionString, "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND application_name IN ('postern', 'postern-watch') AND pid <> pg_backend_pid()");
      expect(ended.length).toBeGreaterThanOrEqual(2);
      for (let i = 0; i < 20; i++) await writer.put(`/k/during/${i}`, String(i));
      const rest = await take(w, 20);
      expect(rest.map((e) => (e.type === 'put' ? e.item.key : e.key))).toEqual(Array.from({ length: 20 }, (_, i) => `/k/during/${i}`));
      expect((await b.get('/k/during/19'))?.value).toBe('19');
    } finally {
      await Promise.all([b.close(), writer.close()]);
    }
  });

  it('says where and what to check when the database cannot be reached, never the password', async () => {
    const b = new PostgresBackend({ connectionString: 'postgres://postern:s3cret@127.0.0.1:1/postern', connectTimeoutMs: 2000 });
    const err = await b.get('/k').catch((e: unknown) => e);
    expect(isPosternError(err, 'STORAGE_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toMatch(/^PostgreSQL at 127\.0\.0\.1:1\/postern: connecting failed: .*ECONNREFUSED.*; check storage\.conn_string/);
    expect((err as Error).message).not.toContain('s3cret');
    const w = b.watch('/k/');
    await expect(w.ready).rejects.toSatisfy((e) => isPosternError(e, 'STORAGE_UNAVAILABLE'));
    await expect(w[Symbol.asyncIterator]().next()).rejects.toSatisfy((e) => isPosternError(e, 'STORAGE_UNAVAILABLE'));
    await b.close();
  });
});

async function sql(connectionString: string, statement: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return (await client.query(statement)).rows;
  } finally {
    await client.end();
  }
}

async function take(w: Watcher, n: number, timeoutMs = 10_000): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  const it = w[Symbol.asyncIterator]();
  const deadline = Date.now() + timeoutMs;
  while (out.length < n) {
    const next = await Promise.race([it.next(), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), Math.max(0, deadline - Date.now())))]);
    if (next === 'timeout') throw new Error(`watch delivered ${out.length} of ${n} events within ${timeoutMs} ms`);
    if (next.done) break;
    out.push(next.value);
  }
  return out;
}
