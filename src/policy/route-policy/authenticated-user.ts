import { criterionCondition, expectTrue, NO_IDENTITY, type Criterion } from './criterion.js';

/** `authenticated_user: true`: the request carries a valid identity. */
export const authenticatedUser: Criterion = {
  name: 'authenticated_user',
  takesName: false,
  readsIdentity: true,
  example: 'true',
  compile(value, path) {
    expectTrue(value, path, 'authenticated_user');
    return criterionCondition(
      (input) => input.user !== undefined,
      (input) => `authenticated_user (${input.user!.username} is signed in)`,
      (input) => `a signed-in user (${input.user ? `${input.user.username} is signed in` : NO_IDENTITY})`,
    );
  },
};
