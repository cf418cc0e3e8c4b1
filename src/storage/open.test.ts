import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import type { PosternConfig } from '../config/schema.js';
import { openBackend, postgresUrl } from './open.js';

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

  it('names storage.type when a config file asks for a type this version has not, and checks what postgres needs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-open-'));
    const file = join(dir, 'postern.yaml');
    writeFileSync(file, 'storage:\n  type: etcd\n');
    expect(() => loadConfig({ file })).toThrow(posternError('CONFIG_INVALID', /storage\.type.*"etcd" is not a storage type of this version; use sqlite or postgres/s));
    writeFileSync(file, 'storage:\n  type: postgres\n');
    expect(() => loadConfig({ file })).toThrow(posternError('CONFIG_INVALID', /postgres storage needs exactly one of conn_string .* or conn_string_file/s));
    writeFileSync(file, 'storage:\n  type: postgres\n  conn_string: mysql://x@y/z\n');
    expect(() => loadConfig({ file })).toThrow(posternError('CONFIG_INVALID', /storage\.conn_string.*write a PostgreSQL URL/s));
    writeFileSync(file, 'storage:\n  conn_string: postgres://x@y/z\n');
    expect(() => loadConfig({ file })).toThrow(posternError('CONFIG_INVALID', /conn_string and conn_string_file are for type: postgres/));
  });

  it('reads conn_string_file (relative to the config file) and says what is wrong with it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-open-'));
    const file = join(dir, 'postern.yaml');
    writeFileSync(file, 'storage:\n  type: postgres\n  conn_string_file: pg-url\n');
    const { config } = loadConfig({ file });
    expect(config.storage.conn_string_file).toBe(join(dir, 'pg-url'));
    expect(() => postgresUrl(config.storage)).toThrow(posternError('CONFIG_INVALID', /^storage\.conn_string_file: cannot read .*pg-url: ENOENT/));
    writeFileSync(join(dir, 'pg-url'), 'hunter2\n');
    expect(() => postgresUrl(config.storage)).toThrow(posternError('CONFIG_INVALID', /does not start with a PostgreSQL URL/));
    writeFileSync(join(dir, 'pg-url'), 'postgres://postern:pw@db:5432/postern\n# a comment\n');
    expect(postgresUrl(config.storage)).toBe('postgres://postern:pw@db:5432/postern');
  });

  it('refuses a type the schema never checked (a config built in code) the same way', () => {
    const config = { storage: { type: 'etcd' }, data_dir: tmpdir() } as unknown as Pick<PosternConfig, 'storage' | 'data_dir'>;
    expect(() => openBackend(config)).toThrow(posternError('CONFIG_INVALID', 'storage.type: "etcd" is not a storage type of this version; use sqlite or postgres'));
  });
});
