import { criterionCondition, expectTrue, type Criterion } from './criterion.js';

/** `reject: true`: matches no request. */
export const reject: Criterion = {
  name: 'reject',
  takesName: false,
  readsIdentity: false,
  example: 'true',
  compile(value, path) {
    expectTrue(value, path, 'reject');
    return criterionCondition(
      () => false,
      () => 'reject', // never holds
      () => 'reject (matches no request)',
    );
  },
};
