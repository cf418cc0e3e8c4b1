import { describe, expect, it } from 'vitest';
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
