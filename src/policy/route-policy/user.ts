import { NO_IDENTITY, type Criterion } from './criterion.js';
import { compileMatcher, STRING_MATCHERS, valueCondition } from './string-matcher.js';

/** `user: <string matcher>`: the user name, compared exactly (case matters). */
export const user: Criterion = {
  name: 'user',
  takesName: false,
  readsIdentity: true,
  example: 'alice',
  compile(value, path) {
    const matcher = compileMatcher(value, path, { ops: STRING_MATCHERS, plain: 'is', example: '{ in: [alice, bob] }' });
    return valueCondition('user', matcher, {
      read: (input) => input.user?.username,
      seen: (_, name) => `the user is ${name}`,
      missing: () => NO_IDENTITY,
    });
  },
};
