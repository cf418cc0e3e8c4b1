/**
 * The web console's Administration pages, as the UI reads the admin ops it calls
 * (`POST /webapi/admin/<op>`, admin/ops.ts): users, roles, join tokens and locks. The server's
 * own types live beside storage the browser bundle cannot import; admin-api.test.ts keeps these
 * in step with each op's schema and result. Fields are snake_case on the wire.
 *
 * Type declarations only: the browser bundle imports this file.
 */

/** `users.ls`, `users.get`: a user as stored (never their credentials). */
export interface AdminUser {
  name: string;
  roles: string[];
  /** `logins`, `db_users`, …: what roles' `{{internal.…}}` templates expand to. */
  traits: Record<string, string[]>;
  /** ISO 8601. */
  created: string;
  created_by: string;
}

/** `users.add` arguments, as the invite form sends them (no password: the person sets one). */
export interface InviteArgs {
  name: string;
  roles: string[];
  traits: Record<string, string[]>;
}

/** The one-time link for a person to set a password: `users.reset`, and part of `users.add`. */
export interface InviteLink {
  invite_url?: string;
  /** ISO 8601. */
  invite_expires?: string;
  otp_uri?: string;
}

/** `users.add`. */
export interface UserAdded extends InviteLink {
  user: AdminUser;
}

/** `roles.ls`: each role as `postern ctl get role` shows it; the pages read only its metadata. */
export interface RoleDocument {
  metadata: { name: string; description?: string };
}

/** `roles.get-yaml`: the role's text as `postern ctl get role NAME` prints it. */
export interface RoleYaml {
  name: string;
  yaml: string;
}

/** `roles.upsert`. A refusal is CONFIG_INVALID, each problem at its line (wire/role-problems.ts). */
export interface RoleSaved {
  name: string;
  result: 'created' | 'updated';
}

/** What an agent joining with a token may serve. */
export type JoinTokenType = 'app' | 'ssh' | 'db';

/** `tokens.ls`: a join token by its id (the token itself is shown once, when made). */
export interface JoinTokenView {
  id: string;
  roles: JoinTokenType[];
  created: string;
  created_by: string;
  expires: string;
}

/** `tokens.add`: the token, once, and what the start command needs. */
export interface TokenAdded {
  token: string;
  record: JoinTokenView;
  ca_pin: string;
  /** host:port agents dial. */
  proxy: string;
  /** `postern start --roles=agent …` with this token, and an example flag per kind it allows. */
  start_command: string;
}

/** `locks.ls`: who is locked, why and until when (no `expires`: until removed). */
export interface LockView {
  id: string;
  target: { user: string } | { role: string } | { agent: string };
  message: string;
  created: string;
  created_by: string;
  expires?: string;
}

/** `locks.add` arguments from the web console: a user or a role. */
export interface LockArgs {
  user?: string;
  role?: string;
  message?: string;
  ttl_ms?: number;
}
