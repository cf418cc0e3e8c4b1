import type { Access } from '../../access/access.js';
import type { OpenSession } from '../../access/open-sessions.js';
import type { Permit } from '../../admin/ops.js';
import { AUDIT_EVENTS } from '../../audit/events.js';
import type { AuthService } from '../../auth/auth-service.js';
import { PosternError } from '../../errors/postern-error.js';
import type { ActiveSession, ActiveSessionList, AuditEventTypes, EndedSession } from '../../wire/console-api.js';
import type { Principal, WebAuthenticator } from './principal.js';
import { sendJson } from './respond.js';
import type { WebContext, WebHandler } from './web-handler.js';
import { ruleGate } from './admin-rules.js';

/**
 * The web console's own API, beside the admin ops it also uses (audit.ls): the type list for the
 * audit page's filter, and the relayed sessions open in this proxy process, which live in its
 * access layer rather than in storage, so `postern ctl` has no op for them. Listing and ending
 * them are decided by the caller's admin rules on `session` (list, delete), as the admin ops are.
 */
export function registerConsoleRoutes(web: WebHandler, auth: AuthService, authn: WebAuthenticator, access: Access): void {
  // The table of docs/audit.md: public knowledge, but only signed-in people have a use for it.
  web.route('GET', '/webapi/console/audit-types', async (ctx) => {
    await authn.principal(ctx);
    const types = Object.entries(AUDIT_EVENTS).map(([event, { code, summary }]) => ({ event, code, summary }));
    sendJson<AuditEventTypes>(ctx.res, 200, { types });
  });

  web.route('GET', '/webapi/console/sessions', async (ctx) => {
    const { permit, may } = await rulesOf(ctx, auth, authn, access);
    await permit('session', 'list');
    sendJson<ActiveSessionList>(ctx.res, 200, { sessions: access.openSessions().map(toWire), can_end: may('session', 'delete') });
  });

  web.route('DELETE', '/webapi/console/sessions/*', async (ctx) => {
    const { principal, permit } = await rulesOf(ctx, auth, authn, access);
    await permit('session', 'delete');
    // Ids are UUIDs: nothing to decode, and a malformed escape cannot fail the request.
    const id = ctx.rest;
    const ended = access.endSession(id, `ended by an administrator (${principal.username})`);
    if (!ended) throw new PosternError('NOT_FOUND', `no open session ${id} in this proxy process: it has closed already, or another proxy of the cluster holds it`);
    await auth.emit({
      event: 'active.session.end',
      user: principal.username,
      remote_addr: ctx.conn.clientAddr.address,
      ...(ended.user ? { target: ended.user } : {}),
      session_id: ended.id,
      kind: ended.kind,
      resource: ended.resource,
    });
    sendJson<EndedSession>(ctx.res, 200, { ended: toWire(ended) });
  });
}

/**
 * The caller as they stand now, and their admin rules: `permit` refuses (audited, as for an admin
 * op) what the rules do not allow; `may` only asks, for what the page offers.
 */
async function rulesOf(ctx: WebContext, auth: AuthService, authn: WebAuthenticator, access: Access): Promise<{ principal: Principal; permit: Permit; may: (resource: 'session', verb: 'delete') => boolean }> {
  const principal = await authn.principal(ctx);
  const { checker } = await access.view(principal, ctx.conn.clientAddr.address);
  const permit = ruleGate(auth, checker, { username: principal.username, clientAddr: ctx.conn.clientAddr.address });
  return { principal, permit, may: (resource, verb) => checker.checkRule(resource, verb).allow };
}

function toWire(s: OpenSession): ActiveSession {
  const { login, dbUser, dbName } = s.request;
  return {
    id: s.id,
    kind: s.kind,
    resource: s.resource,
    ...(s.user ? { user: s.user } : {}),
    client_addr: s.clientAddr,
    via: s.via,
    ...(login ? { login } : {}),
    ...(dbUser ? { db_user: dbUser } : {}),
    ...(dbName ? { db_name: dbName } : {}),
    started: s.started.toISOString(),
    bytes_up: s.bytesUp,
    bytes_down: s.bytesDown,
  };
}
