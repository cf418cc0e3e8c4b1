import { criterionCondition, listValues, NO_IDENTITY, traitOf, type Criterion } from './criterion.js';
import { compileMatcher, firstMatch, LIST_MATCHERS } from './string-matcher.js';

/** `groups: <list matcher>`: the user's `groups` trait has the value (exactly). */
export const groups: Criterion = {
  name: 'groups',
  takesName: false,
  readsIdentity: true,
  example: '{ has: sre }',
  compile(value, path) {
    const matcher = compileMatcher(value, path, { ops: LIST_MATCHERS, plain: 'has', example: '{ has: sre }' });
    return criterionCondition(
      (input) => {
        const values = input.user && traitOf(input.user, 'groups');
        return values !== undefined && firstMatch(matcher, values) !== -1;
      },
      () => `groups ${matcher.holds}`,
      (input) => {
        const values = input.user && traitOf(input.user, 'groups');
        const seen = !input.user ? NO_IDENTITY : values ? `${input.user.username} has ${listValues(values)}` : `${input.user.username} has no groups`;
        return `groups ${matcher.wants} (${seen})`;
      },
    );
  },
};
