/**
 * The web console's Audit log and Active sessions pages, as both ends see them: the server
 * (src/proxy/web/console-routes.ts, and the audit.ls admin op) builds its answers as these types,
 * the UI (ui/src/console-api.ts) reads them as these types. Fields are snake_case on the wire.
 *
 * Type declarations only: the browser bundle imports this file.
 */

/**
 * `POST /webapi/admin/audit.ls`: which events (admin/ops.ts checks the arguments; a test keeps
 * this type in step with its schema). Times are milliseconds since the epoch.
 */
export interface AuditListArgs {
  /** At or after this time. */
  since_ms?: number;
  /** Before this time. */
  until_ms?: number;
  /** Event types (docs/audit.md); none or empty: all. */
  types?: string[];
  user?: string;
  limit?: number;
  /** Only events after this index: how the page follows new events. */
  after_index?: number;
  /** Newest first instead of oldest first. */
  newest?: boolean;
}

/** An audit event as audit.ls answers it (docs/audit.md, "Event fields"). */
export interface AuditEventView {
  event: string;
  code: string;
  /** ISO 8601, UTC, with milliseconds. */
  time: string;
  uid: string;
  /** Position in the log, increasing with every append. */
  index: number;
  user?: string;
  remote_addr?: string;
  /** The event type's own fields. */
  [field: string]: unknown;
}

/** `GET /webapi/console/audit-types`: every event type, for the type filter. */
export interface AuditEventTypes {
  types: { event: string; code: string; summary: string }[];
}

/** A relayed session open now in the proxy process that answered. */
export interface ActiveSession {
  id: string;
  /** The resource kind: node (SSH), app (TCP app or WebSocket), route (TCP route), db. */
  kind: string;
  /** Its name: node, app, database, or the route's host:port. */
  resource: string;
  /** Absent for a route that lets clients without identity through. */
  user?: string;
  client_addr: string;
  /** How the caller proved who it is: certificate, session, token, or none. */
  via: string;
  login?: string;
  db_user?: string;
  db_name?: string;
  /** ISO 8601. */
  started: string;
  /** Bytes from the client so far. */
  bytes_up: number;
  /** Bytes to the client so far. */
  bytes_down: number;
}

/** `GET /webapi/console/sessions`: the caller needs the `session` admin rule with `list`. */
export interface ActiveSessionList {
  sessions: ActiveSession[];
  /** Whether the caller's rules also allow `delete` on `session` (the End session button). */
  can_end: boolean;
}

/** `DELETE /webapi/console/sessions/<id>`: the session as it was when it was ended. */
export interface EndedSession {
  ended: ActiveSession;
}
