import { fstatSync, fchmodSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { backupStore, restoreStore } from '../admin/backup.js';
import { loadConfig } from '../config/load.js';
import type { PosternConfig } from '../config/schema.js';
import { PosternError } from '../errors/postern-error.js';
import type { Backend } from '../storage/backend.js';
import { describeStorage, openBackend } from '../storage/open.js';
import { writeSecretFile } from '../storage/secret-file.js';
import { CTL_CONFIG_FLAGS } from './admin-options.js';
import { addConfigFlags, configOverrides } from './config-flags.js';

/** `postern ctl backup` and `postern ctl restore`: the whole store as one YAML file, on the server host. */
export function registerCtlBackup(ctl: Command): void {
  addConfigFlags(
    ctl
      .command('backup')
      .description(
        'Write every item of the store (users, roles, the certificate authorities and their keys, tokens, routes, locks…) as YAML, ' +
          'to --out or to standard output redirected to a file; either way the file is made 0600. The audit log is not included. ' +
          'Example: postern ctl backup --config postern.yaml > cluster.yaml',
      )
      .option('--out <file>', 'write here (mode 0600) instead of standard output'),
    CTL_CONFIG_FLAGS,
  ).action(async (opts: Record<string, unknown>) => {
    const config = configOf(opts);
    const out = typeof opts.out === 'string' ? opts.out : undefined;
    if (!out) secureStdout();
    const backup = await withBackend(openBackend(config, { mustExist: true }), (backend) => backupStore(backend));
    if (out) writeSecretFile(out, backup.text);
    else process.stdout.write(backup.text);
    process.stderr.write(`backed up ${backup.items} items of cluster ${backup.clusterName ?? '(none)'} from ${describeStorage(config)}${out ? ` to ${out}` : ''}\n`);
  });

  addConfigFlags(
    ctl
      .command('restore')
      .description(
        'Load a backup from `postern ctl backup` into an empty store of either type (a new data directory, or an empty PostgreSQL database: ' +
          'SQLite → PostgreSQL is a backup and a restore). Stop every server on the store first. ' +
          'Example: postern ctl restore cluster.yaml --config new.yaml',
      )
      .argument('<file>', 'the backup')
      .option('--force', 'restore into a store that is not empty: everything in it is deleted first'),
    CTL_CONFIG_FLAGS,
  ).action(async (file: string, opts: Record<string, unknown>) => {
    const config = configOf(opts);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new PosternError('USAGE', `cannot read the backup ${file}: ${(err as Error).message}`, { cause: err });
    }
    const result = await withBackend(openBackend(config), (backend) => restoreStore(backend, text, { force: opts.force === true, source: file }));
    const expired = result.expired ? ` (${result.expired} had expired since the backup and were left out)` : '';
    process.stdout.write(`restored ${result.restored} items of cluster ${result.clusterName ?? '(none)'} into ${describeStorage(config)}${expired}\n`);
    if (result.clusterName && result.clusterName !== config.cluster_name) {
      process.stdout.write(`the config names cluster ${config.cluster_name}: set cluster_name: ${result.clusterName} in it before postern start\n`);
    }
  });
}

function configOf(opts: Record<string, unknown>): PosternConfig {
  return loadConfig({ ...(typeof opts.config === 'string' ? { file: opts.config } : {}), overrides: configOverrides(opts, CTL_CONFIG_FLAGS) }).config;
}

async function withBackend<T>(backend: Backend, fn: (backend: Backend) => Promise<T>): Promise<T> {
  try {
    return await fn(backend);
  } finally {
    await backend.close();
  }
}

/**
 * A backup holds private keys: to a terminal it is refused, and a file it is redirected to is
 * made 0600 before anything is written (the shell created it with the umask's mode).
 */
function secureStdout(): void {
  if (process.stdout.isTTY) throw new PosternError('USAGE', 'a backup holds the private keys of the cluster: redirect it to a file (> cluster.yaml) or use --out FILE');
  if (fstatSync(1).isFile()) fchmodSync(1, 0o600);
}
