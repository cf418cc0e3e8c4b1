import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import type { PosternConfig } from '../config/schema.js';
import { isPosternError } from '../errors/postern-error.js';
import { openBackend } from './open.js';

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isPosternError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
  throw new Error('expected an error');
}

describe('openBackend', () => {
  it('opens the configured sqlite store, and with mustExist refuses a data directory with none', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'postern-open-'));
    const config = { storage: { type: 'sqlite' }, data_dir: dataDir } as const;
    expect(failure(() => openBackend(config, { mustExist: true }))).toMatch(/^NOT_INITIALIZED: no cluster in .*run `postern start` first/);
    const backend = openBackend(config);
    await backend.close();
    const again = openBackend(config, { mustExist: true });
    await again.close();
  });

  it('names storage.type when a config file asks for a type this version has not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-open-'));
    const file = join(dir, 'postern.yaml');
    writeFileSync(file, 'storage:\n  type: postgres\n');
    expect(failure(() => loadConfig({ file }))).toMatch(/^CONFIG_INVALID: .*storage\.type.*"postgres" is not a storage type of this version; use sqlite/s);
  });

  it('refuses a type the schema never checked (a config built in code) the same way', () => {
    const config = { storage: { type: 'etcd' }, data_dir: tmpdir() } as unknown as Pick<PosternConfig, 'storage' | 'data_dir'>;
    expect(failure(() => openBackend(config))).toBe('CONFIG_INVALID: storage.type: "etcd" is not a storage type of this version; use sqlite');
  });
});
