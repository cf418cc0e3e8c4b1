import { existsSync } from 'node:fs';
import type { PosternConfig } from '../config/schema.js';
import { PosternError } from '../errors/postern-error.js';
import type { Backend } from './backend.js';
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
    default:
      return unknownType(type);
  }
}

/** A type the config schema let through but no backend serves (a config built in code, say). */
export function unknownType(type: never): never {
  throw new PosternError('CONFIG_INVALID', `storage.type: "${String(type)}" is not a storage type of this version; use sqlite`);
}
