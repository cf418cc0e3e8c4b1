import type { PosternConfig } from '../config/schema.js';
import { storePath } from '../storage/sqlite/sqlite-backend.js';
import { postgresUrl, unknownType } from '../storage/open.js';
import type { AuditLog } from './audit-log.js';
import { PostgresAuditLog } from './postgres-audit-log.js';
import { SqliteAuditLog } from './sqlite-audit-log.js';

export interface OpenAuditOptions {
  /** Write from a thread of its own (the server), not on the caller's event loop. */
  writerThread?: boolean;
}

/** The audit log that goes with the configured storage: in the same store, through its own connection. */
export function openAuditLog(config: Pick<PosternConfig, 'storage' | 'data_dir'>, opts: OpenAuditOptions = {}): AuditLog {
  const type = config.storage.type;
  switch (type) {
    case 'sqlite':
      return new SqliteAuditLog({ path: storePath(config.data_dir), writer: opts.writerThread ? 'thread' : 'inline' });
    case 'postgres':
      // PostgreSQL does the work on its own processes: a batch is one round trip, no thread needed.
      return new PostgresAuditLog({ connectionString: postgresUrl(config.storage) });
    default:
      return unknownType(type);
  }
}
