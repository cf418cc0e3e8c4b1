import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { isPosternError } from '../errors/postern-error.js';
import { SqliteBackend } from '../storage/sqlite/sqlite-backend.js';
import { auditLogComplianceSuite } from './compliance.js';
import { NOT_BULK } from './audit-rows.js';
import { SqliteAuditLog } from './sqlite-audit-log.js';

const run = promisify(execFile);

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

function freshPath(): string {
  return join(mkdtempSync(join(tmpdir(), 'postern-audit-')), 'data', 'postern.db');
}

/** Both writers run every test: the server's thread and the inline one of short-lived processes. */
const WRITERS = ['inline', 'thread'] as const;
type Writer = (typeof WRITERS)[number];

function open(writer: Writer, path = freshPath()): SqliteAuditLog {
  const log = new SqliteAuditLog({ path, writer });
  opened.push(log);
  return log;
}

for (const writer of WRITERS) {
  auditLogComplianceSuite(`sqlite (${writer} writer)`, {
    fresh() {
      const path = freshPath();
      return {
        open: (opts) => new SqliteAuditLog({ path, writer, ...opts }),
        async breakWrites() {
          const raw = new Database(path);
          raw.exec('DROP TABLE audit_events');
          raw.close();
        },
        brokenWrite: /no such table: audit_events/,
        appendFromAnotherProcess: (count) => emitFromAnotherProcess(path, count),
      };
    },
  });
}

describe.each(WRITERS)('sqlite audit log, %s writer', (writer) => {
  it("lives in the backend's file beside its tables, and refuses use once closed", async () => {
    const path = freshPath();
    const backend = new SqliteBackend({ path });
    opened.push(backend);
    const log = new SqliteAuditLog({ path, writer });
    await backend.put('/k', 'v');
    await log.emit({ event: 'lock.create', user: 'admin', name: 'bob' });
    expect((await backend.get('/k'))?.value).toBe('v');
    await log.close();
    await expect(log.query({})).rejects.toSatisfy((e) => isPosternError(e, 'STORAGE_UNAVAILABLE'));
    await expect(log.emit({ event: 'lock.delete' })).rejects.toThrow(/closed/);
    // append() is not awaited by anyone (a session ending while the server stops): it reports, never throws.
    const lost: Error[] = [];
    log.append({ event: 'lock.delete' }, (err) => lost.push(err));
    expect(lost.map((e) => e.message)).toEqual(['the audit log is closed']);
  });
});

/** Appends `count` token.used events named t0… from a separate Node process, as `postern ctl` would. */
async function emitFromAnotherProcess(path: string, count: number): Promise<void> {
  const moduleUrl = new URL('./sqlite-audit-log.ts', import.meta.url).href;
  const script = `
    import { SqliteAuditLog } from ${JSON.stringify(moduleUrl)};
    const log = new SqliteAuditLog({ path: ${JSON.stringify(path)} });
    for (let i = 0; i < ${count}; i++) await log.emit({ event: 'token.used', name: 't' + i });
    await log.close();
  `;
  await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 30_000 });
}

describe('sqlite audit log: indexes', () => {
  const plan = (db: Database.Database, where: string) =>
    db
      .prepare<[], { detail: string }>(`EXPLAIN QUERY PLAN SELECT "index", data FROM audit_events WHERE ${where} ORDER BY "index" DESC LIMIT 10`)
      .all()
      .map((r) => r.detail)
      .join('; ');

  it('keeps statements out of the indexes by type and user, which queries without them still use; an older log loses its whole indexes', async () => {
    const path = freshPath();
    // A log as made before: whole indexes by type and user.
    const older = open('inline', path);
    await older.close();
    const raw = new Database(path);
    raw.exec('DROP INDEX audit_events_event_not_bulk; DROP INDEX audit_events_user_not_bulk; CREATE INDEX audit_events_event ON audit_events (event); CREATE INDEX audit_events_user ON audit_events (user)');
    raw.close();

    const log = open('inline', path);
    const statements = log.series({ event: 'db.query', user: 'alice' }, (err) => expect.fail(err.message));
    for (let i = 0; i < 50; i++) statements.append({ query: `select ${i}` });
    const login = await log.emit({ event: 'user.login', user: 'alice' });
    const db = new Database(path, { readonly: true });
    try {
      const indexes = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' AND sql IS NOT NULL ORDER BY name").pluck().all();
      expect(indexes).toEqual(['audit_events_event_not_bulk', 'audit_events_time', 'audit_events_user_not_bulk']);
      const counted = (name: string) => (db.prepare(`SELECT COUNT(*) FROM audit_events INDEXED BY ${name} WHERE ${NOT_BULK}`).pluck().get() as number);
      expect([counted('audit_events_event_not_bulk'), counted('audit_events_user_not_bulk')]).toEqual([1, 1]);
      expect(plan(db, `event IN ('user.login') AND ${NOT_BULK}`)).toMatch(/USING INDEX audit_events_event_not_bulk/);
      expect(plan(db, `user = 'alice' AND event IN ('user.login') AND ${NOT_BULK}`)).toMatch(/USING INDEX audit_events_(event|user)_not_bulk/);
    } finally {
      db.close();
    }
    expect(await log.query({ types: ['user.login'], user: 'alice' })).toEqual([login]);
    expect(await log.query({ types: ['db.query'], user: 'alice' })).toHaveLength(50);
    expect(await log.query({ user: 'alice' })).toHaveLength(51);
  });
});
