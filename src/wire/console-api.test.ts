import { describe, expectTypeOf, it } from 'vitest';
import type { OpArgs, OpResult } from '../admin/ops.js';
import type { AuditEventView, AuditListArgs } from './console-api.js';

// Checked by the type-check (tsconfig.check.json): the UI's copy of audit.ls's arguments and
// result stays in step with the op's schema, which the browser bundle cannot import.
describe('the console API types', () => {
  it('match the audit.ls op: the same arguments, and its events read as AuditEventView', () => {
    expectTypeOf<Required<AuditListArgs>>().toEqualTypeOf<Required<OpArgs<'audit.ls'>>>();
    expectTypeOf<OpResult<'audit.ls'>[number]>().toExtend<AuditEventView>();
  });
});
