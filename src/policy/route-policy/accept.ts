import { criterionCondition, expectTrue, type Criterion } from './criterion.js';

/** `accept: true`: matches every request, signed in or not. */
export const accept: Criterion = {
  name: 'accept',
  takesName: false,
  readsIdentity: false,
  example: 'true',
  compile(value, path) {
    expectTrue(value, path, 'accept');
    return criterionCondition(
      () => true,
      () => 'accept (matches every request)',
      () => 'accept (matches every request)',
    );
  },
};
