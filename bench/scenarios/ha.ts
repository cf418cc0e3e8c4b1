import { join } from 'node:path';
import { PostgresAuditLog } from '../../src/audit/postgres-audit-log.js';
import type { Backend, Watcher } from '../../src/storage/backend.js';
import { PostgresBackend } from '../../src/storage/postgres/postgres-backend.js';
import { SqliteBackend, storePath } from '../../src/storage/sqlite/sqlite-backend.js';
import { ThrowawayDatabases } from '../../test/harness/pg-databases.js';
import { tempDir } from '../../test/harness/temp.js';
import { percentile, type Row } from '../lib/stats.js';
import { loginRates, sqliteStore } from './login.js';

/**
 * Several proxies on one PostgreSQL database (issue 19), on the machine's PostgreSQL server
 * (POSTERN_TEST_PG_URL, a throwaway database dropped after): how soon a change written by one
 * proxy reaches another's watch (two stores with their own connections, as two proxies have),
 * against SQLite's two processes on one file (a poll every 100 ms); and login and certificate
 * rates on PostgreSQL against SQLite's in the same run.
 */
export async function haScenario(opts: { quick: boolean }): Promise<Row[]> {
  const databases = new ThrowawayDatabases();
  try {
    const changes = opts.quick ? 100 : 500;
    const url = await databases.create();
    const pg = await propagation(new PostgresBackend({ connectionString: url }), new PostgresBackend({ connectionString: url }), changes);
    const path = storePath(join(tempDir('postern-bench-ha-'), 'data'));
    const sqlite = await propagation(new SqliteBackend({ path }), new SqliteBackend({ path }), changes);

    const embedded = sqliteStore();
    const onSqlite = await loginRates(embedded.backend, embedded.audit, opts);
    await embedded.audit.close();
    await embedded.backend.close();
    const loginUrl = await databases.create();
    const backend = new PostgresBackend({ connectionString: loginUrl });
    const audit = new PostgresAuditLog({ connectionString: loginUrl });
    const onPostgres = await loginRates(backend, audit, opts);
    await audit.close();
    await backend.close();

    const ms = (v: number) => `${v.toFixed(1)} ms`;
    return [
      {
        scenario: `a change on one proxy seen by another's watch (${changes}, PostgreSQL LISTEN/NOTIFY)`,
        figure: `p50 ${ms(pg.p50)}, p99 ${ms(pg.p99)}`,
        baseline: `SQLite, two processes on one file: p50 ${ms(sqlite.p50)}, p99 ${ms(sqlite.p99)}`,
        ratio: NaN,
        target: 'p99 <= 200 ms',
        pass: pg.p99 <= 200,
      },
      {
        scenario: `certificate issue on PostgreSQL (${onPostgres.count}, 4 at a time)`,
        figure: `${onPostgres.issue.toFixed(0)}/s`,
        baseline: `SQLite ${onSqlite.issue.toFixed(0)}/s`,
        ratio: onPostgres.issue / onSqlite.issue,
        target: '>= 0.80x',
        pass: onPostgres.issue / onSqlite.issue >= 0.8,
      },
      {
        scenario: `login + certificate on PostgreSQL (${onPostgres.logins}, 4 at a time)`,
        figure: `${onPostgres.login.toFixed(0)}/s`,
        baseline: `SQLite ${onSqlite.login.toFixed(0)}/s`,
        ratio: onPostgres.login / onSqlite.login,
        target: '>= 0.80x',
        pass: onPostgres.login / onSqlite.login >= 0.8,
      },
    ];
  } finally {
    await databases.dropAll();
  }
}

/** Writes `count` changes on `writer`, one every 5 ms, and times each until `reader`'s watch delivers it. */
async function propagation(writer: Backend, reader: Backend, count: number): Promise<{ p50: number; p99: number }> {
  const watcher: Watcher = reader.watch('/bench/');
  await watcher.ready;
  await writer.put('/warm', 'x'); // the writer's connection and schema are ready before timing
  const sent = new Map<string, number>();
  const delays: number[] = [];
  const received = (async () => {
    for await (const event of watcher) {
      if (event.type !== 'put') continue;
      delays.push(performance.now() - sent.get(event.item.key)!);
      if (delays.length === count) return;
    }
  })();
  for (let i = 0; i < count; i++) {
    const key = `/bench/${i}`;
    sent.set(key, performance.now());
    await writer.put(key, String(i));
    await new Promise((r) => setTimeout(r, 5));
  }
  // A timer of our own: SQLite's poll is unref'd, and would let the process end while it waits.
  let deadline: NodeJS.Timeout | undefined;
  await Promise.race([received, new Promise((_, reject) => (deadline = setTimeout(() => reject(new Error(`the watch delivered ${delays.length} of ${count} changes within 30 s`)), 30_000)))]);
  clearTimeout(deadline);
  watcher.close();
  await writer.close();
  await reader.close();
  return { p50: percentile(delays, 50), p99: percentile(delays, 99) };
}
