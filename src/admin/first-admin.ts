import type { AuthService } from '../auth/auth-service.js';
import { isPosternError } from '../errors/postern-error.js';
import { ADMIN_OPS, type Actor } from './ops.js';

/** The first administrator's name, and who made it (in `created_by` and the audit log). */
export const FIRST_ADMIN = 'admin';
const FIRST_RUN: Actor = { name: 'postern start (first run)', remoteAddr: '' };

export interface FirstAdminInvite {
  user: string;
  url: string;
  expires: string;
}

/**
 * A new cluster has nobody to sign in as: on a start that finds no user, `admin` is made with
 * the built-in `editor` and `access` roles and a one-time invite (password and second factor are
 * set by whoever opens it). Until that invite is used, each start makes a fresh one (the last
 * may have expired), so the link in the banner always works. Once anyone has set up `admin`, or
 * an administrator made other users, nothing happens here.
 */
export async function firstAdminInvite(auth: AuthService): Promise<FirstAdminInvite | undefined> {
  const users = await auth.users.list();
  if (users.length === 0) {
    try {
      const made = await ADMIN_OPS['users.add'].run(auth, { name: FIRST_ADMIN, roles: ['editor', 'access'], traits: {} }, FIRST_RUN);
      return { user: FIRST_ADMIN, url: made.invite_url!, expires: made.invite_expires! };
    } catch (err) {
      // Another proxy of the cluster, starting at the same moment, made it: its banner has the link.
      if (isPosternError(err, 'ALREADY_EXISTS')) return undefined;
      throw err;
    }
  }
  const [only] = users;
  if (users.length > 1 || only!.name !== FIRST_ADMIN || only!.created_by !== FIRST_RUN.name) return undefined;
  if ((await auth.users.getCredentials(FIRST_ADMIN))?.password_hash) return undefined;
  const fresh = await ADMIN_OPS['users.reset'].run(auth, { name: FIRST_ADMIN }, FIRST_RUN);
  return { user: FIRST_ADMIN, url: fresh.invite_url!, expires: fresh.invite_expires! };
}
