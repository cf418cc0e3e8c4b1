import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { havePostgresServer, ThrowawayDatabases } from '../../test/harness/pg-databases.js';
import { AUDIT_NOT_BULK_V1 } from '../storage/postgres/schema.js';
import { NOT_BULK } from './audit-rows.js';
import { auditLogComplianceSuite } from './compliance.js';
import { PostgresAuditLog } from './postgres-audit-log.js';

const run = promisify(execFile);
const databases = new ThrowawayDatabases();
afterAll(() => databases.dropAll());

const serverUp = await havePostgresServer();

describe.runIf(serverUp)('postgres audit log', () => {
  let url = '';
  auditLogComplianceSuite('postgres', {
    async prepare() {
      url = await databases.create();
    },
    fresh() {
      const connectionString = url;
      return {
        open: (opts) => new PostgresAuditLog({ connectionString, ...opts }),
        async breakWrites() {
          const client = new pg.Client({ connectionString });
          await client.connect();
          await client.query('DROP TABLE postern_audit_events');
          await client.end();
        },
        brokenWrite: /relation "postern_audit_events" does not exist/,
        appendFromAnotherProcess: (count) => emitFromAnotherProcess(connectionString, count),
      };
    },
  });

  it("keeps its partial indexes' condition, frozen in migration 1, the same as the queries' (a new bulk event needs a new migration)", () => {
    expect(NOT_BULK).toBe(AUDIT_NOT_BULK_V1);
  });
});

async function emitFromAnotherProcess(connectionString: string, count: number): Promise<void> {
  const moduleUrl = new URL('./postgres-audit-log.ts', import.meta.url).href;
  const script = `
    import { PostgresAuditLog } from ${JSON.stringify(moduleUrl)};
    const log = new PostgresAuditLog({ connectionString: ${JSON.stringify(connectionString)} });
    for (let i = 0; i < ${count}; i++) await log.emit({ event: 'token.used', name: 't' + i });
    await log.close();
  `;
  await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 30_000 });
}
