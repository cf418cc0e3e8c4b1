import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { backendComplianceSuite } from '../compliance.js';
import { SqliteBackend } from './sqlite-backend.js';

const worker = fileURLToPath(new URL('./compliance-worker.ts', import.meta.url));

backendComplianceSuite('sqlite', {
  fresh() {
    const path = join(mkdtempSync(join(tmpdir(), 'postern-sqlite-')), 'state', 'postern.db');
    return {
      open: () => new SqliteBackend({ path, pollIntervalMs: 50, sweepIntervalMs: 100 }),
      workerArgv: (op, ...args) => [process.execPath, '--import', 'tsx', worker, path, op, ...args],
    };
  },
});

describe('sqlite backend events', () => {
  it('closes watchers that missed events pruned before this process read them', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'postern-sqlite-')), 'p.db');
    const lagging = new SqliteBackend({ path, pollIntervalMs: 60_000 });
    const watcher = lagging.watch('/k/');
    const other = new SqliteBackend({ path, sweepIntervalMs: 10, eventRetentionMs: 0 });
    for (let i = 0; i < 3; i++) await other.put(`/k/${i}`, 'v');
    await other.delete('/k/0');
    await new Promise((r) => setTimeout(r, 100)); // the other process prunes everything but the newest event
    await lagging.put('/k/mine', 'v'); // wakes the lagging process's poll
    await expect(watcher[Symbol.asyncIterator]().next()).rejects.toThrow(/fell more than the event retention behind/);
    await Promise.all([lagging.close(), other.close()]);
  });
});

describe('sqlite backend files', () => {
  it('creates the store 0600 in a 0700 directory', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'postern-sqlite-')), 'data', 'postern.db');
    const b = new SqliteBackend({ path });
    await b.put('/k', 'v');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(path, '..')).mode & 0o777).toBe(0o700);
    await b.close();
    await expect(b.get('/k')).rejects.toThrow(/closed/);
  });

  it('says where and why when the store cannot be opened', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-sqlite-'));
    const notADir = join(dir, 'file');
    writeFileSync(notADir, '');
    expect(() => new SqliteBackend({ path: join(notADir, 'postern.db') })).toThrow(/cannot open the store at .*file\/postern\.db: .*writable/);
  });
});
