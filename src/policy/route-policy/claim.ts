import { criterionCondition, listValues, NO_IDENTITY, PolicyProblem, traitOf, type Criterion } from './criterion.js';
import { compileMatcher, firstMatch, LIST_MATCHERS, STRING_MATCHERS } from './string-matcher.js';

const OPS = [...LIST_MATCHERS, ...STRING_MATCHERS] as const;

/**
 * `claim/<name>: <string or list matcher>`: the user's trait `<name>`. A trait is a list: `has`
 * (or a plain string) asks for that exact value among them; a string matcher (`ends_with`, `in`…)
 * matches when any value does. A user without the trait never matches.
 */
export const claim: Criterion = {
  name: 'claim',
  takesName: true,
  readsIdentity: true,
  example: '{ has: sre }',
  compile(value, path, name) {
    if (name === undefined || name === '') {
      throw new PolicyProblem(path, 'name the trait after the slash: claim/<name>, like claim/team: { has: sre }');
    }
    const matcher = compileMatcher(value, path, { ops: OPS, plain: 'has', example: `{ has: sre } or { starts_with: "team-" }` });
    const label = `claim/${name}`;
    return criterionCondition(
      (input) => {
        const values = input.user && traitOf(input.user, name);
        return values !== undefined && firstMatch(matcher, values) !== -1;
      },
      (input) => {
        if (!matcher.showsValue) return `${label} ${matcher.holds}`;
        const values = traitOf(input.user!, name)!;
        return `${label} ${matcher.holds} (${values[firstMatch(matcher, values)]})`;
      },
      (input) => {
        const values = input.user && traitOf(input.user, name);
        const seen = !input.user ? NO_IDENTITY : values ? `${input.user.username} has ${listValues(values)}` : `${input.user.username} has no ${name}`;
        return `${label} ${matcher.wants} (${seen})`;
      },
    );
  },
};
