import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isPosternError } from '../errors/postern-error.js';
import { SqliteBackend } from '../storage/sqlite/sqlite-backend.js';
import { backupStore, restoreStore } from './backup.js';

const opened: SqliteBackend[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((b) => b.close()));
});

function store(): SqliteBackend {
  const b = new SqliteBackend({ path: join(mkdtempSync(join(tmpdir(), 'postern-backup-')), 'postern.db') });
  opened.push(b);
  return b;
}

describe('backup and restore', () => {
  it('carries every item, JSON values readable as YAML, text as it is, expiries kept; restore drops what expired since', async () => {
    const from = store();
    const pem = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI…\n-----END PRIVATE KEY-----\n';
    await from.put('/cluster/name', 'example.com');
    await from.put('/authorities/host', JSON.stringify({ key_pem: pem, cert_pem: 'x', serial: 7 }));
    await from.put('/users/alice', JSON.stringify({ roles: ['access'], traits: { logins: ['alice'] } }));
    await from.put('/tokens/soon', 'x', { expires: new Date(Date.now() + 300) });
    await from.put('/tokens/later', 'y', { expires: new Date(Date.now() + 3_600_000) });
    const backup = await backupStore(from);
    expect(backup).toMatchObject({ items: 5, clusterName: 'example.com' });
    expect(backup.text).toMatch(/^# Postern backup of cluster example\.com, .*: 5 items\.\n# It holds the certificate authorities' private keys/);
    expect(backup.text).toContain('format: postern-backup/v1');
    expect(backup.text).toMatch(/key_pem: \|\n\s+-----BEGIN PRIVATE KEY-----/); // a key reads as a block, not an escaped string

    await new Promise((r) => setTimeout(r, 400));
    const into = store();
    expect(await restoreStore(into, backup.text, { source: 'b.yaml' })).toEqual({ restored: 4, expired: 1, clusterName: 'example.com' });
    const values = async (b: SqliteBackend) => (await b.range('/')).map((i) => [i.key, i.value, i.expires?.toISOString()]);
    expect(await values(into)).toEqual((await values(from)).filter(([key]) => key !== '/tokens/soon'));
  });

  it('refuses a store that is not empty unless forced, and then replaces what was there', async () => {
    const from = store();
    await from.put('/cluster/name', 'a');
    const { text } = await backupStore(from);
    const into = store();
    await into.put('/cluster/name', 'b');
    await into.put('/users/mallory', '{}');
    await expect(restoreStore(into, text, { source: 'b.yaml' })).rejects.toSatisfy(
      (e) => isPosternError(e, 'ALREADY_EXISTS') && /the store is not empty \(2 items, cluster b\): restore into a new data directory or database, or pass --force/.test((e as Error).message),
    );
    expect((await into.get('/cluster/name'))?.value).toBe('b');
    await restoreStore(into, text, { source: 'b.yaml', force: true });
    expect((await into.range('/')).map((i) => [i.key, i.value])).toEqual([['/cluster/name', 'a']]);
  });

  it('says what is wrong with a file that is not a backup, and writes nothing', async () => {
    const into = store();
    const refused = (text: string) => restoreStore(into, text, { source: 'x.yaml' }).then(() => '', (e: Error) => e.message);
    expect(await refused('items: [')).toMatch(/^x\.yaml is not a Postern backup: its YAML does not parse/);
    expect(await refused('')).toBe('x.yaml is not a Postern backup: it is empty');
    expect(await refused('format: other\nitems: []')).toMatch(/its format is "other", not postern-backup\/v1/);
    expect(await refused('format: postern-backup/v1\nitems:\n  - key: /a\n    value: x\n  - key: b\n    value: y')).toMatch(/item 2 has no key/);
    expect(await refused('format: postern-backup/v1\nitems:\n  - key: /a\n    value: x\n    json: {}')).toMatch(/item 1 \(\/a\) needs exactly one of value or json/);
    expect(await into.range('/')).toEqual([]);
  });
});
