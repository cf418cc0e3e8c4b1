import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { silentLogger } from '../log/logger.js';
import { Collection } from './collection.js';
import { Mirror, type MirrorChange } from './mirror.js';
import { SqliteBackend } from './sqlite/sqlite-backend.js';

const thing = z.object({ n: z.number() });
const open: SqliteBackend[] = [];
function backend(path = join(mkdtempSync(join(tmpdir(), 'postern-mirror-')), 'db')): SqliteBackend {
  const b = new SqliteBackend({ path, pollIntervalMs: 20 });
  open.push(b);
  return b;
}
afterEach(async () => {
  for (const b of open.splice(0)) await b.close();
});

const until = async (check: () => boolean) => {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  expect(check()).toBe(true);
};

describe('Collection', () => {
  it('creates once, updates with compare-and-swap, lists and deletes', async () => {
    const things = new Collection(backend(), '/things/', thing, 'thing');
    await things.create('a', { n: 1 });
    await expect(things.create('a', { n: 2 })).rejects.toThrow(/thing "a" exists already/);
    await Promise.all(Array.from({ length: 10 }, () => things.update('a', (cur) => ({ value: { n: cur.n + 1 } }))));
    expect(await things.get('a')).toEqual({ n: 11 });
    await expect(things.require('zz')).rejects.toThrow(/thing "zz" does not exist; list them with `postern ctl get things`/);
    expect(await things.list()).toEqual([{ n: 11 }]);
    expect(await things.delete('a')).toBe(true);
    expect(await things.get('a')).toBeUndefined();
  });

  it('names the key and field of a malformed stored value', async () => {
    const b = backend();
    await b.put('/things/bad', JSON.stringify({ n: 'x' }));
    await expect(new Collection(b, '/things/', thing, 'thing').get('bad')).rejects.toThrow(/stored thing at \/things\/bad is malformed \(n: /);
  });
});

describe('Mirror', () => {
  it('loads the collection, then follows puts and deletes, including another process\'s writes', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'postern-mirror-')), 'db');
    const mine = new Collection(backend(path), '/things/', thing, 'thing');
    const theirs = new Collection(backend(path), '/things/', thing, 'thing'); // a second connection, like postern ctl
    await mine.create('before', { n: 1 });
    const mirror = new Mirror(mine, silentLogger);
    const changes: MirrorChange<{ n: number }>[] = [];
    mirror.onChange((c) => changes.push(c));
    await mirror.start();
    expect(mirror.get('before')).toEqual({ n: 1 });
    await theirs.put('after', { n: 2 });
    await until(() => mirror.get('after')?.n === 2);
    await theirs.delete('before');
    await until(() => mirror.get('before') === undefined);
    expect(changes.map((c) => `${c.type} ${c.name}`)).toEqual(['put before', 'put after', 'delete before']);
    mirror.close();
  });
});
