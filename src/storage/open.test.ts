import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import type { PosternConfig } from '../config/schema.js';
import { openBackend } from './open.js';

/** What a PosternError with this code and message looks like to toThrow. */
function posternError(code: string, message: RegExp | string) {
  return expect.objectContaining({ code, message: typeof message === 'string' ? message : expect.stringMatching(message) });
}

describe('openBackend', () => {
  it('opens the configured sqlite store, and with mustExist refuses a data directory with none', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'postern-open-'));
    const config = { storage: { type: 'sqlite' }, data_dir: dataDir } as const;
    expect(() => openBackend(config, { mustExist: true })).toThrow(posternError('NOT_INITIALIZED', /^no cluster in .*run `postern start` first/));
    const backend = openBackend(config);
    await backend.close();
    const again = openBackend(config, { mustExist: true });
    await again.close();
  });

  it('names storage.type when a config file asks for a type this version has not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-open-'));
    const file = join(dir, 'postern.yaml');
    writeFileSync(file, 'storage:\n  type: postgres\n');
    expect(() => loadConfig({ file })).toThrow(posternError('CONFIG_INVALID', /storage\.type.*"postgres" is not a storage type of this version; use sqlite/s));
  });

  it('refuses a type the schema never checked (a config built in code) the same way', () => {
    const config = { storage: { type: 'etcd' }, data_dir: tmpdir() } as unknown as Pick<PosternConfig, 'storage' | 'data_dir'>;
    expect(() => openBackend(config)).toThrow(posternError('CONFIG_INVALID', 'storage.type: "etcd" is not a storage type of this version; use sqlite'));
  });
});
