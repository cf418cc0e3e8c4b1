import type { SessionRef } from '../auth/live-sessions.js';
import type { Identity, Route } from '../pki/identity.js';

/**
 * Who asks, as their credential says: a certificate's identity, or what a web session, a CLI
 * token or an app session resolved to when it was presented. A caller is never decided on as it
 * is: the access layer first takes it to the cluster as it stands now (Standings), where a
 * removed user, a removed role or a lock takes away what the credential still claims.
 */
export interface Caller {
  /** A person (`user`), or a Postern process such as an agent (`host`). */
  kind: 'user' | 'host';
  username: string;
  roles: string[];
  traits: Record<string, string[]>;
  /** How the caller proved it. A certificate's roles and traits are as issued; a session's are the user's when it was read. */
  via: 'certificate' | 'session' | 'token' | 'app-session';
  /** When the credential stops being valid. */
  expires: Date;
  /** Sessions the credential depends on: when one ends, so does every connection made with it. */
  sessions?: readonly SessionRef[];
  /** A certificate narrowed to one resource (`postern apps login`). */
  route?: Route;
}

/** The caller a verified certificate speaks for. */
export function callerFromIdentity(identity: Identity): Caller {
  return {
    kind: identity.kind,
    username: identity.username,
    roles: identity.roles,
    traits: identity.traits,
    via: 'certificate',
    expires: identity.expires,
    ...(identity.route ? { route: identity.route } : {}),
  };
}

/** For messages: "the certificate", "the session". */
export function credentialOf(caller: Caller): string {
  return { certificate: 'the certificate', session: 'the web session', token: 'the token', 'app-session': 'the app session' }[caller.via];
}
