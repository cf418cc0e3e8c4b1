import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteBackend } from '../storage/sqlite/sqlite-backend.js';
import { ensureClusterState, readClusterState } from './cluster-state.js';

const open: SqliteBackend[] = [];
function store(path = join(mkdtempSync(join(tmpdir(), 'postern-cluster-')), 'p.db')) {
  const b = new SqliteBackend({ path });
  open.push(b);
  return { b, path };
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

describe('cluster state', () => {
  it('creates the CAs once and loads the same ones afterwards', async () => {
    const { b, path } = store();
    const first = await ensureClusterState(b, 'example');
    const again = await ensureClusterState(store(path).b, 'example');
    expect(again.authorities.host.pin).toBe(first.authorities.host.pin);
    expect(again.authorities.user.pin).toBe(first.authorities.user.pin);
    expect((await readClusterState(b, 'here')).authorities.user.pin).toBe(first.authorities.user.pin);
  });

  it('agrees on one set of CAs when two clients start at once', async () => {
    const { path } = store();
    const [a, c] = await Promise.all([ensureClusterState(store(path).b, 'x'), ensureClusterState(store(path).b, 'x')]);
    expect(a.authorities.host.pin).toBe(c.authorities.host.pin);
  });

  it('refuses another cluster name and says how to fix it', async () => {
    const { b } = store();
    await ensureClusterState(b, 'first');
    await expect(ensureClusterState(b, 'second')).rejects.toThrow(/belongs to cluster "first".*set cluster_name: first/);
  });

  it('tells ctl to start the cluster first when there is none', async () => {
    await expect(readClusterState(store().b, '/srv/data')).rejects.toThrow(/\/srv\/data holds no cluster yet; run `postern start`/);
  });
});
