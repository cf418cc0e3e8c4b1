import { emailOf, NO_IDENTITY, type Criterion } from './criterion.js';
import { compileMatcher, STRING_MATCHERS, valueCondition } from './string-matcher.js';

/**
 * `email: <string matcher>`: the first value of the user's `email` trait, compared without regard
 * to case. A user without an email never matches.
 */
export const email: Criterion = {
  name: 'email',
  takesName: false,
  readsIdentity: true,
  example: '{ ends_with: "@example.com" }',
  compile(value, path) {
    const matcher = compileMatcher(value, path, { ops: STRING_MATCHERS, plain: 'is', ignoreCase: true, example: '{ ends_with: "@example.com" }' });
    return valueCondition('email', matcher, {
      read: (input) => emailOf(input.user),
      seen: (input, address) => `${input.user!.username} has ${address}`,
      missing: (input) => (input.user ? `${input.user.username} has no email` : NO_IDENTITY),
    });
  },
};
