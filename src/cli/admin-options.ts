import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { LocalAdmin, RemoteAdmin, type AdminClient } from '../admin/admin-client.js';
import { profileEndpoint } from '../client/login.js';
import { ProfileStore } from '../client/profile-store.js';
import { loadConfig } from '../config/load.js';
import { PosternError } from '../errors/postern-error.js';
import { addConfigFlags, configOverrides } from './config-flags.js';
import { formatOption, type Format } from './output.js';

/** The only config flag ctl takes: which data directory (the cluster) to administer. */
export const CTL_CONFIG_FLAGS = ['--data-dir'] as const;

/** The options every admin command takes: where the cluster is, and how to print. */
export function adminCommand(cmd: Command): Command {
  return addConfigFlags(cmd, CTL_CONFIG_FLAGS)
    .option('--proxy <host:port>', 'administer through this proxy with your profile (default: the data directory when there is one, else the current profile)')
    .addOption(formatOption());
}

export interface AdminOptions {
  config?: string;
  dataDir?: string;
  proxy?: string;
  format: Format;
}

/** Runs `fn` with the admin client the options point at, and closes it. */
export async function withAdmin<T>(opts: AdminOptions, fn: (admin: AdminClient) => Promise<T>): Promise<T> {
  const admin = await openAdmin(opts);
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
}

async function openAdmin(opts: AdminOptions): Promise<AdminClient> {
  const local = !opts.proxy && (opts.config || opts.dataDir || existsSync('postern.yaml') || existsSync(join('postern-data', 'postern.db')));
  if (local) {
    const { config } = loadConfig({ ...(opts.config ? { file: opts.config } : {}), overrides: configOverrides(opts as unknown as Record<string, unknown>, CTL_CONFIG_FLAGS) });
    return LocalAdmin.open(config);
  }
  const store = new ProfileStore();
  if (!opts.proxy && !store.currentName()) {
    throw new PosternError('NOT_INITIALIZED', 'no cluster here: on the server host pass --data-dir or --config; elsewhere log in first (postern login) as a user whose roles allow administration');
  }
  return new RemoteAdmin(profileEndpoint(store, opts.proxy));
}

