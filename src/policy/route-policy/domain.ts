import { emailOf, NO_IDENTITY, quote, type Criterion, type PolicyUser } from './criterion.js';
import { compileMatcher, STRING_MATCHERS, valueCondition } from './string-matcher.js';

/**
 * `domain: <string matcher>`: the domain part (after the last `@`) of the user's email, compared
 * without regard to case. A user without an email, or with one without a domain, never matches.
 */
export const domain: Criterion = {
  name: 'domain',
  takesName: false,
  readsIdentity: true,
  example: 'example.com',
  compile(value, path) {
    const matcher = compileMatcher(value, path, { ops: STRING_MATCHERS, plain: 'is', ignoreCase: true, example: '{ in: [example.com, example.org] }' });
    return valueCondition('domain', matcher, {
      read: (input) => domainOf(emailOf(input.user)),
      seen: (input, name) => `${input.user!.username} has ${name}`,
      missing: (input) => missing(input.user),
    });
  },
};

function domainOf(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const at = address.lastIndexOf('@');
  return at === -1 || at === address.length - 1 ? undefined : address.slice(at + 1);
}

function missing(user: PolicyUser | undefined): string {
  if (!user) return NO_IDENTITY;
  const address = emailOf(user);
  return address === undefined ? `${user.username} has no email` : `${user.username}'s email ${quote(address)} has no domain`;
}
