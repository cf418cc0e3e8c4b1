import type { ResourceKind } from '../resources/table.js';

/**
 * The one table of audit event types. Every audit event carries one of these types and its code;
 * docs/audit.md lists the same table, and events.test.ts keeps the two in step.
 *
 * Codes are `PA` + four digits + a severity: `I` for information, `W` for a warning (something
 * was refused). The first two digits group the subject (10 logins, 11 certificates, 12 users,
 * 13 roles, 14 join tokens, 15 locks, 16 web sessions, 17 authorization, 18 agents, 19 app sessions, 20 TCP route tunnels, 21 SSH sessions, 22 database sessions, 23 sessions ended by an administrator); a refusal shares the
 * number of the event it refuses, so `PA1000I` and `PA1000W` are a login and a failed one.
 * Codes are stable once released: searches and alerts outside Postern match on them.
 * `bulk` marks an event written per statement (see BULK_EVENTS).
 */
export const AUDIT_EVENTS = {
  'user.login': { code: 'PA1000I', summary: 'A user logged in (CLI or web) and got a certificate or session.' },
  'user.login.failed': {
    code: 'PA1000W',
    summary: 'A login was refused; `reason` says why (bad password, bad code, locked, rate limited, unknown user).',
  },
  'user.logout': { code: 'PA1001I', summary: 'A user logged out and their session was ended.' },
  'cert.issued': { code: 'PA1100I', summary: 'A certificate was issued: `cert_kind` (user or host), `ttl`, `roles`, `serial`.' },
  'user.create': { code: 'PA1200I', summary: 'A user was created.' },
  'user.update': { code: 'PA1201I', summary: "A user's roles, traits or settings were changed." },
  'user.delete': { code: 'PA1202I', summary: 'A user was deleted.' },
  'user.password.set': { code: 'PA1203I', summary: "A user's password was set or changed (the password itself is never recorded)." },
  'user.invite': { code: 'PA1204I', summary: 'A user was invited to set a password and log in for the first time.' },
  'role.create': { code: 'PA1300I', summary: 'A role was created.' },
  'role.update': { code: 'PA1301I', summary: 'A role was changed.' },
  'role.delete': { code: 'PA1302I', summary: 'A role was deleted.' },
  'token.create': { code: 'PA1400I', summary: 'A join token was created (its value is never recorded).' },
  'token.delete': { code: 'PA1401I', summary: 'A join token was deleted.' },
  'token.used': { code: 'PA1402I', summary: 'A join token was used: an agent joined with it.' },
  'lock.create': { code: 'PA1500I', summary: 'A lock was placed on a user, role or agent: new connections are refused, live ones end.' },
  'lock.delete': { code: 'PA1501I', summary: 'A lock was removed.' },
  'session.start': { code: 'PA1600I', summary: 'A web session started.' },
  'session.end': { code: 'PA1601I', summary: 'A web session ended (logout, expiry or deletion).' },
  'access.granted': {
    code: 'PA1700I',
    summary: 'Access was allowed: `kind` and `resource` say to what (with `login` or the database user and name it asked for), `reasons` which rules allowed it, `via` how the caller proved who it is.',
  },
  'access.denied': { code: 'PA1700W', summary: 'Access was refused: `kind` and `resource` say to what (a resource, or `api` and the request for a call of the proxy\'s API, `admin` and the action for an admin operation), `reasons` why, `code_name` the error the client got.' },
  'agent.join': { code: 'PA1800I', summary: 'An agent joined with a token and got a host certificate: `agent_id`, `agent_name`, `roles`.' },
  'agent.join.failed': { code: 'PA1800W', summary: 'An agent was refused joining; `reason` says why (unknown, expired or used token, wrong type).' },
  'agent.connect': { code: 'PA1801I', summary: "An agent's reverse tunnel connected: `agent_id`, `agent_name`." },
  'agent.disconnect': { code: 'PA1802I', summary: "An agent's reverse tunnel closed; `reason` says why." },
  'app.session.start': { code: 'PA1900I', summary: 'An app session started: a person opened `app` in a browser (`session_id`).' },
  'app.session.request': {
    code: 'PA1901I',
    summary: 'Requests made to an app, in chunks: `requests` lists each one (method, path, status, bytes in and out, duration); `session_id` for an app session, `via: certificate` for a certificate from `postern apps login` or `postern proxy app`.',
  },
  'app.session.end': { code: 'PA1902I', summary: 'An app session ended: logout from the app, or its web session ended; `reason` says which.' },
  'app.connection.start': { code: 'PA1903I', summary: 'A long-lived connection to an app opened: a TCP app (`postern proxy app`) or a WebSocket; `app`, `via`.' },
  'app.connection.end': { code: 'PA1904I', summary: 'A connection to an app closed: bytes each way, duration, and `reason` (ended, revoked with why, or failed with why: it could not be opened, as when its agent is offline).' },
  'route.tunnel.start': { code: 'PA2000I', summary: 'A TCP tunnel through a route opened: `authority`, `target`, `via` (certificate or token).' },
  'route.tunnel.end': { code: 'PA2001I', summary: 'A TCP tunnel closed: bytes each way, duration, and `reason` (ended, revoked with why, or failed with why: it could not be opened, as when its agent is offline).' },
  'ssh.session.start': { code: 'PA2100I', summary: 'An SSH connection to a node opened: `login`, `node`, and the per-connection certificate issued for it.' },
  'ssh.session.end': { code: 'PA2101I', summary: 'An SSH connection to a node closed: `login`, `node`, bytes each way, duration, and `reason` (ended, revoked with why, or failed with why: it could not be opened, as when its agent is offline, or the browser terminal refused the node\'s host key).' },
  'db.session.start': { code: 'PA2200I', summary: 'A database session opened: `db`, `db_user`, `db_name`, `protocol`, and the client certificate issued for the database user.' },
  'db.session.end': { code: 'PA2201I', summary: 'A database session closed: `db`, `db_user`, `db_name`, bytes each way, duration, and `reason` (ended, revoked with why, failed with why when it could not be opened, or stopped at a command Postern does not let through, such as MySQL COM_CHANGE_USER).' },
  'db.query': {
    code: 'PA2202I',
    summary: 'A statement a database session ran: `query` (cut at 16 KiB), `protocol` (PostgreSQL: simple, or extended with the number of `parameters`; MySQL: query, prepare, execute with the number of `parameters`, or init_db; parameter values are not recorded), `db`, `db_user`, `db_name`.',
    bulk: true,
  },
  'active.session.end': {
    code: 'PA2300I',
    summary: 'An administrator ended an open session (SSH, TCP app or route, database, app WebSocket) from the web console: `user` is the administrator, `target` whose session it was, `kind`, `resource`, `session_id`; the session\'s own end event follows with `reason: revoked: ended by …`.',
  },
  'agent.refused': { code: 'PA1801W', summary: "An agent's tunnel was refused: its certificate was expired, forged or locked; `reason` says which." },
} as const satisfies Record<string, { code: string; summary: string; bulk?: true }>;

export type AuditEventType = keyof typeof AUDIT_EVENTS;

/**
 * Events marked `bulk`: one per statement a session runs, thousands a second. Logs keep them out
 * of their indexes by type and user (each costs a B-tree insert per event, about as much as the
 * row itself); they are found by time, as the sessions they belong to are.
 */
export const BULK_EVENTS = (Object.keys(AUDIT_EVENTS) as AuditEventType[]).filter((type) => 'bulk' in AUDIT_EVENTS[type]);

/**
 * The events that open and close a relayed session, per kind of resource (resources/table.ts):
 * the access layer's serveStream writes them for every protocol.
 */
export const SESSION_EVENTS = {
  node: { start: 'ssh.session.start', end: 'ssh.session.end' },
  app: { start: 'app.connection.start', end: 'app.connection.end' },
  route: { start: 'route.tunnel.start', end: 'route.tunnel.end' },
  db: { start: 'db.session.start', end: 'db.session.end' },
} as const satisfies Partial<Record<ResourceKind, { start: AuditEventType; end: AuditEventType }>>;
export type StreamedKind = keyof typeof SESSION_EVENTS;

export function isAuditEventType(name: string): name is AuditEventType {
  return Object.hasOwn(AUDIT_EVENTS, name);
}
