/** The Administration pages' calls: admin ops over `POST /webapi/admin/<op>` (src/wire/admin-api.ts types them). */

import type { AdminUser, InviteArgs, InviteLink, JoinTokenType, JoinTokenView, LockArgs, LockView, RoleDocument, RoleSaved, RoleYaml, TokenAdded, UserAdded } from '../../src/wire/admin-api.js';
import type { AdminResponse } from '../../src/wire/api.js';
import { request } from './api';

export type { AdminUser, InviteLink, JoinTokenType, JoinTokenView, LockView, RoleDocument, TokenAdded } from '../../src/wire/admin-api.js';

/** One admin op; the server checks the caller's admin rules for it, as for `postern ctl`. */
async function run<R>(op: string, args: object = {}): Promise<R> {
  return (await request<AdminResponse<R>>('POST', `/webapi/admin/${op}`, args)).result;
}

export const adminApi = {
  users: () => run<AdminUser[]>('users.ls'),
  invite: (args: InviteArgs) => run<UserAdded>('users.add', args),
  /** A new one-time link; the old link and the password stop working. */
  reset: (name: string) => run<InviteLink>('users.reset', { name }),
  removeUser: (name: string) => run<{ removed: string }>('users.rm', { name }),

  roles: () => run<RoleDocument[]>('roles.ls'),
  roleYaml: (name: string) => run<RoleYaml>('roles.get-yaml', { name }),
  /** The text as typed, so that a refusal names each problem's line in it. */
  saveRole: (yaml: string) => run<RoleSaved>('roles.upsert', { yaml, source: 'the role editor' }),
  removeRole: (name: string) => run<{ removed: string }>('roles.rm', { name }),

  tokens: () => run<JoinTokenView[]>('tokens.ls'),
  addToken: (types: JoinTokenType[], ttlMs: number) => run<TokenAdded>('tokens.add', { type: types.join(','), ttl_ms: ttlMs }),
  removeToken: (id: string) => run<JoinTokenView>('tokens.rm', { token: id }),

  locks: () => run<LockView[]>('locks.ls'),
  addLock: (args: LockArgs) => run<LockView & { description: string }>('locks.add', args),
  removeLock: (id: string) => run<LockView>('locks.rm', { id }),
};
