import { describe, expect, it } from 'vitest';
import type { AuthService } from '../auth/auth-service.js';
import { lineProblems } from '../wire/role-problems.js';
import { prepareOp } from './ops.js';

describe('admin ops by name', () => {
  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'constructor.ls'])('refuses %s as an unknown op, not as something of Object.prototype', async (name) => {
    await expect(prepareOp(name, {})).rejects.toMatchObject({ code: 'NOT_FOUND', message: `there is no admin operation "${name}"` });
  });

  it('still finds real ops and the old list aliases', async () => {
    await expect(prepareOp('users.ls', {})).resolves.toMatchObject({ resource: 'user', verb: 'list' });
    await expect(prepareOp('apps.ls', {})).resolves.toMatchObject({ verb: 'list' });
  });
});

describe('roles.upsert', () => {
  // Both refusals come before storage is touched, so no cluster is needed.
  const noAuth = {} as AuthService;
  const actor = { name: 'ada', remoteAddr: '127.0.0.1' };

  it('takes the role either as a value or as YAML text, not both or neither', async () => {
    for (const args of [{}, { role: { kind: 'role' }, yaml: 'kind: role' }]) {
      await expect((await prepareOp('roles.upsert', args)).run(noAuth, actor)).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('either as `role`') });
    }
  });

  it('refuses YAML text with each problem at its line', async () => {
    const op = await prepareOp('roles.upsert', { yaml: 'kind: role\nversion: v1\nmetadata:\n  name: Bad Name\n' });
    const refusal = op.run(noAuth, actor);
    await expect(refusal).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    expect(lineProblems(((await refusal.catch((e: unknown) => e)) as Error).message)).toEqual([{ line: 4, text: expect.stringMatching(/^metadata\.name: "Bad Name" is not a valid role name/) }]);
  });
});
