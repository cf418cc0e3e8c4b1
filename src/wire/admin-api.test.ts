import { describe, expectTypeOf, it } from 'vitest';
import type { OpArgs, OpResult } from '../admin/ops.js';
import type { Role } from '../policy/role.js';
import type { AgentRole } from '../resources/table.js';
import type { AdminUser, InviteArgs, InviteLink, JoinTokenView, LockArgs, LockView, RoleDocument, RoleSaved, RoleYaml, TokenAdded, UserAdded } from './admin-api.js';

// Checked by the type-check (tsconfig.check.json): the UI's copy of the admin ops' shapes stays
// in step with the ops, which the browser bundle cannot import.
describe('the administration API types', () => {
  it('read the users ops as they answer', () => {
    expectTypeOf<OpResult<'users.ls'>[number]>().toEqualTypeOf<AdminUser>();
    expectTypeOf<OpResult<'users.add'>>().toEqualTypeOf<UserAdded>();
    expectTypeOf<OpResult<'users.reset'>>().toEqualTypeOf<InviteLink>();
    expectTypeOf<InviteArgs>().toExtend<OpArgs<'users.add'>>();
  });

  it('read the roles, tokens and locks ops as they answer', () => {
    expectTypeOf<OpResult<'roles.get-yaml'>>().toEqualTypeOf<RoleYaml>();
    expectTypeOf<OpResult<'roles.upsert'>>().toEqualTypeOf<RoleSaved>();
    // roles.ls answers each role in its YAML form (roleToYaml), which keeps the role's metadata.
    expectTypeOf<Role>().toExtend<RoleDocument>();
    expectTypeOf<JoinTokenView['roles'][number]>().toEqualTypeOf<AgentRole>();
    expectTypeOf<OpResult<'tokens.ls'>[number]>().toEqualTypeOf<JoinTokenView>();
    expectTypeOf<OpResult<'tokens.add'>>().toEqualTypeOf<TokenAdded>();
    expectTypeOf<OpResult<'locks.ls'>[number]>().toEqualTypeOf<LockView>();
    expectTypeOf<LockArgs>().toExtend<OpArgs<'locks.add'>>();
  });
});
