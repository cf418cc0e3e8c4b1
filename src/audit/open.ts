import type { PosternConfig } from '../config/schema.js';
import { storePath } from '../storage/sqlite/sqlite-backend.js';
import { unknownType } from '../storage/open.js';
import type { AuditLog } from './audit-log.js';
import { SqliteAuditLog } from './sqlite-audit-log.js';

/** The audit log that goes with the configured storage: in the same store, through its own connection. */
export function openAuditLog(config: Pick<PosternConfig, 'storage' | 'data_dir'>): AuditLog {
  const type = config.storage.type;
  switch (type) {
    case 'sqlite':
      return new SqliteAuditLog({ path: storePath(config.data_dir) });
    default:
      return unknownType(type);
  }
}
