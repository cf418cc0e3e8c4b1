import { existsSync, readFileSync } from 'node:fs';
import type { PosternConfig, StorageConfig } from '../config/schema.js';
import { PosternError } from '../errors/postern-error.js';
import type { Backend } from './backend.js';
import { PostgresBackend } from './postgres/postgres-backend.js';
import { describeServer } from './postgres/postgres-errors.js';
import { SqliteBackend, storePath } from './sqlite/sqlite-backend.js';

export interface OpenOptions {
  /** Refuse to create a new store: the caller administers an existing cluster (`postern ctl`). */
  mustExist?: boolean;
}

/** The one place the configured storage type (`storage.type`) becomes a backend. */
export function openBackend(config: Pick<PosternConfig, 'storage' | 'data_dir'>, opts: OpenOptions = {}): Backend {
  const type = config.storage.type;
  switch (type) {
    case 'sqlite': {
      const path = storePath(config.data_dir);
      if (opts.mustExist && !existsSync(path)) {
        throw new PosternError('NOT_INITIALIZED', `no cluster in ${config.data_dir} (no postern.db there); run \`postern start\` first, or point --data-dir or --config at the cluster's data`);
      }
      return new SqliteBackend({ path });
    }
    case 'postgres':
      return new PostgresBackend({ connectionString: postgresUrl(config.storage) });
    default:
      return unknownType(type);
  }
}

/** Where the cluster's state is, for people: the data directory, or PostgreSQL's host and database (never a password). */
export function describeStorage(config: Pick<PosternConfig, 'storage' | 'data_dir'>): string {
  return config.storage.type === 'postgres' ? `PostgreSQL at ${describeServer(postgresUrl(config.storage))}` : config.data_dir;
}

/** storage.conn_string, or the first line of storage.conn_string_file. */
export function postgresUrl(storage: StorageConfig): string {
  if (storage.conn_string) return storage.conn_string;
  const file = storage.conn_string_file!;
  let url: string;
  try {
    url = readFileSync(file, 'utf8').split('\n')[0]!.trim();
  } catch (err) {
    throw new PosternError('CONFIG_INVALID', `storage.conn_string_file: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!/^postgres(ql)?:\/\/\S+$/.test(url)) {
    throw new PosternError('CONFIG_INVALID', `storage.conn_string_file: ${file} does not start with a PostgreSQL URL; its first line should be postgres://USER:PASSWORD@HOST:5432/DATABASE`);
  }
  return url;
}

/** A type the config schema let through but no backend serves (a config built in code, say). */
export function unknownType(type: never): never {
  throw new PosternError('CONFIG_INVALID', `storage.type: "${String(type)}" is not a storage type of this version; use sqlite or postgres`);
}
