import { parseDocument, stringify } from 'yaml';
import { CLUSTER_KEYS } from '../auth/cluster-state.js';
import { PosternError } from '../errors/postern-error.js';
import type { Backend, Item } from '../storage/backend.js';

/** The first line of every backup, and its `format`: restore refuses anything else. */
export const BACKUP_FORMAT = 'postern-backup/v1';

/** One stored item as a backup keeps it: JSON values as YAML (readable), anything else as text. */
interface BackupItem {
  key: string;
  json?: unknown;
  value?: string;
  expires?: string;
}

interface BackupFile {
  format: string;
  cluster_name: string | null;
  created: string;
  items: BackupItem[];
}

/**
 * Every item in the store (users, roles, the certificate authorities with their private keys,
 * join tokens, locks, routes, sessions…) as one YAML document. Items with an expiry keep it, and
 * restore drops those that have expired since. The audit log is not included: it is a record, not
 * state, and stays where it was written.
 */
export async function backupStore(backend: Backend, now = new Date()): Promise<{ text: string; items: number; clusterName: string | null }> {
  const items = await backend.range('/');
  const clusterName = items.find((i) => i.key === CLUSTER_KEYS.name)?.value ?? null;
  const file: BackupFile = { format: BACKUP_FORMAT, cluster_name: clusterName, created: now.toISOString(), items: items.map(toBackupItem) };
  const header = `# Postern backup of cluster ${clusterName ?? '(none)'}, ${file.created}: ${items.length} items.\n# It holds the certificate authorities' private keys: keep it as you would keep them (mode 0600).\n`;
  return { text: header + stringify(file, { lineWidth: 0 }), items: items.length, clusterName };
}

export interface RestoreResult {
  restored: number;
  /** Items whose expiry passed between backup and restore. */
  expired: number;
  clusterName: string | null;
}

/**
 * Loads a backup into a store that holds nothing, or, with `force`, into one whose items are all
 * deleted first. Stop every server on the store before restoring: a running one keeps the state
 * it loaded.
 */
export async function restoreStore(backend: Backend, text: string, opts: { force?: boolean; source: string; now?: Date }): Promise<RestoreResult> {
  const file = parseBackup(text, opts.source);
  const existing = await backend.range('/');
  if (existing.length > 0 && !opts.force) {
    const name = existing.find((i) => i.key === CLUSTER_KEYS.name)?.value;
    throw new PosternError(
      'ALREADY_EXISTS',
      `the store is not empty (${existing.length} items${name ? `, cluster ${name}` : ''}): restore into a new data directory or database, or pass --force to delete everything in it first`,
    );
  }
  for (const item of existing) await backend.delete(item.key);
  const now = (opts.now ?? new Date()).getTime();
  let restored = 0;
  let expired = 0;
  for (const item of file.items) {
    const expires = item.expires === undefined ? undefined : new Date(item.expires);
    if (expires && expires.getTime() <= now) {
      expired++;
      continue;
    }
    await backend.put(item.key, item.value ?? JSON.stringify(item.json), expires ? { expires } : undefined);
    restored++;
  }
  return { restored, expired, clusterName: file.cluster_name };
}

function toBackupItem(item: Item): BackupItem {
  const json = parsedObject(item.value);
  return { key: item.key, ...(json === undefined ? { value: item.value } : { json }), ...(item.expires ? { expires: item.expires.toISOString() } : {}) };
}

/** The value as JSON when it is a JSON object or array (what typed resources are), else undefined. */
function parsedObject(value: string): unknown {
  if (!value.startsWith('{') && !value.startsWith('[')) return undefined;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}

/** The backup checked item by item, every problem named with the item's position. */
function parseBackup(text: string, source: string): BackupFile {
  const bad = (why: string) => new PosternError('USAGE', `${source} is not a Postern backup: ${why}`);
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw bad(`its YAML does not parse (${doc.errors[0]!.message.split('\n')[0]})`);
  const file = doc.toJS() as Partial<BackupFile> | null;
  if (!file || typeof file !== 'object') throw bad('it is empty');
  if (file.format !== BACKUP_FORMAT) throw bad(`its format is ${JSON.stringify(file.format)}, not ${BACKUP_FORMAT} (made by \`postern ctl backup\`)`);
  if (!Array.isArray(file.items)) throw bad('it has no items list');
  file.items.forEach((item: BackupItem, i) => {
    const where = `item ${i + 1}`;
    if (typeof item?.key !== 'string' || !item.key.startsWith('/')) throw bad(`${where} has no key (a path such as /users/alice)`);
    if ((item.value === undefined) === (item.json === undefined)) throw bad(`${where} (${item.key}) needs exactly one of value or json`);
    if (item.value !== undefined && typeof item.value !== 'string') throw bad(`${where} (${item.key}): value must be text`);
    if (item.expires !== undefined && Number.isNaN(Date.parse(String(item.expires)))) throw bad(`${where} (${item.key}): expires is not a time`);
  });
  return file as BackupFile;
}
