/** The Audit log and Active sessions pages' calls (src/wire/console-api.ts types both ends). */

import type { AdminResponse } from '../../src/wire/api.js';
import type { ActiveSessionList, AuditEventTypes, AuditEventView, AuditListArgs, EndedSession } from '../../src/wire/console-api.js';
import { request } from './api';

export type { ActiveSession, AuditEventView } from '../../src/wire/console-api.js';

export const consoleApi = {
  /** Audit events through the admin op `audit.ls`: the caller's roles must allow `list` on `audit`. */
  auditEvents: async (args: AuditListArgs) => (await request<AdminResponse<AuditEventView[]>>('POST', '/webapi/admin/audit.ls', args)).result,
  auditTypes: () => request<AuditEventTypes>('GET', '/webapi/console/audit-types'),
  sessions: () => request<ActiveSessionList>('GET', '/webapi/console/sessions'),
  endSession: (id: string) => request<EndedSession>('DELETE', `/webapi/console/sessions/${encodeURIComponent(id)}`),
};
