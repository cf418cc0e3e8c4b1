import { describe, expect, it } from 'vitest';
import { PolicyProblem } from './criterion.js';
import { compileMatcher, firstMatch, LIST_MATCHERS, STRING_MATCHERS, type MatcherOptions } from './string-matcher.js';

const strings: MatcherOptions = { ops: STRING_MATCHERS, plain: 'is', example: '{ ends_with: "@example.com" }' };
const folded: MatcherOptions = { ...strings, ignoreCase: true };
const lists: MatcherOptions = { ops: LIST_MATCHERS, plain: 'has', example: '{ has: sre }' };

describe('string matchers', () => {
  // [matcher, options, value, expected]
  const cases: [unknown, MatcherOptions, string, boolean][] = [
    ['alice', strings, 'alice', true],
    ['alice', strings, 'alice2', false],
    ['alice', strings, 'Alice', false],
    ['alice', folded, 'ALICE', true],
    [{ is: 'alice' }, strings, 'alice', true],
    [{ is: 'alice' }, strings, 'xalice', false],
    [{ starts_with: 'adm' }, strings, 'admin', true],
    [{ starts_with: 'adm' }, strings, 'sysadm', false],
    [{ starts_with: 'ADM' }, folded, 'admin', true],
    [{ ends_with: '@example.com' }, strings, 'a@example.com', true],
    [{ ends_with: '@example.com' }, strings, 'a@example.com.evil.org', false],
    [{ ends_with: '@example.com' }, folded, 'A@EXAMPLE.COM', true],
    [{ contains: 'ops' }, strings, 'devops-team', true],
    [{ contains: 'ops' }, strings, 'dev', false],
    [{ contains: 'OPS' }, folded, 'devops', true],
    [{ in: ['a', 'b'] }, strings, 'b', true],
    [{ in: ['a', 'b'] }, strings, 'c', false],
    [{ in: ['a', 'b'] }, strings, 'B', false],
    [{ in: ['A', 'b'] }, folded, 'a', true],
    ['sre', lists, 'sre', true],
    [{ has: 'sre' }, lists, 'sre', true],
    [{ has: 'sre' }, lists, 'sre2', false],
  ];
  it.each(cases)('%j (%#) on %s', (matcher, options, value, expected) => {
    expect(compileMatcher(matcher, 'm', options).test(value)).toBe(expected);
  });

  it('phrases each matcher as a statement and as a requirement', () => {
    const phrases = (m: unknown, o: MatcherOptions = strings) => {
      const c = compileMatcher(m, 'm', o);
      return [c.holds, c.wants, c.showsValue];
    };
    expect(phrases('alice')).toEqual(['is "alice"', '"alice"', false]);
    expect(phrases({ starts_with: 'a' })).toEqual(['starts with "a"', 'starting with "a"', true]);
    expect(phrases({ ends_with: 'a' })).toEqual(['ends with "a"', 'ending with "a"', true]);
    expect(phrases({ contains: 'a' })).toEqual(['contains "a"', 'containing "a"', true]);
    expect(phrases({ in: ['a', 'b'] })).toEqual(['in ["a", "b"]', 'in ["a", "b"]', true]);
    expect(phrases('sre', lists)).toEqual(['has "sre"', 'with "sre"', false]);
  });

  it('finds the first value a matcher accepts', () => {
    const m = compileMatcher({ ends_with: 'b' }, 'm', strings);
    expect(firstMatch(m, ['a', 'xb', 'yb'])).toBe(1);
    expect(firstMatch(m, ['a'])).toBe(-1);
    expect(firstMatch(m, [])).toBe(-1);
  });
});

describe('matcher errors', () => {
  // [matcher, options, path of the problem, message]
  const cases: [unknown, MatcherOptions, string, string][] = [
    [{ endswith: 'x' }, strings, 'm', 'unknown matcher "endswith"; did you mean ends_with?'],
    [{ start_with: 'x' }, strings, 'm', 'unknown matcher "start_with"; did you mean starts_with?'],
    [{ Contains: 'x' }, strings, 'm', 'unknown matcher "Contains"; did you mean contains?'],
    [{ regex: 'x' }, strings, 'm', 'unknown matcher "regex"; use one of is, starts_with, ends_with, contains, in'],
    [{ has: 'x' }, strings, 'm', 'unknown matcher "has" (has is not for this criterion); use one of is, starts_with, ends_with, contains, in'],
    [{ ends_with: 'x' }, lists, 'm', 'unknown matcher "ends_with" (ends_with is not for this criterion); use one of has'],
    [{ is: 'a', ends_with: 'b' }, strings, 'm', 'has 2 matchers (is, ends_with); write one per criterion, and put each in its own criterion under and'],
    [{}, strings, 'm', 'empty; write a string, or a mapping with one matcher (is, starts_with, ends_with, contains, in), like { ends_with: "@example.com" }'],
    [5, strings, 'm', 'write a string, or a mapping with one matcher (is, starts_with, ends_with, contains, in), like { ends_with: "@example.com" }; to compare with the text 5, quote it: "5"'],
    [null, strings, 'm', 'write a string, or a mapping with one matcher (is, starts_with, ends_with, contains, in), like { ends_with: "@example.com" } (found nothing)'],
    [['a'], lists, 'm', 'write a string, or a mapping with one matcher (has), like { has: sre } (found a list); to match any of several values, write one criterion for each under or'],
    ['', strings, 'm', 'an empty string; write the value to compare with'],
    [{ is: '' }, strings, 'm.is', 'an empty string; write the value to compare with'],
    [{ ends_with: true }, strings, 'm.ends_with', 'write a string; to compare with the text true, quote it: "true"'],
    [{ in: 'a' }, strings, 'm.in', 'write a list of at least one value, like in: [alice, bob]'],
    [{ in: [] }, strings, 'm.in', 'write a list of at least one value, like in: [alice, bob] (found a list)'],
    [{ in: ['a', 7] }, strings, 'm.in[1]', 'write a string; to compare with the text 7, quote it: "7"'],
  ];
  it.each(cases)('%j (%#)', (matcher, options, path, message) => {
    let thrown: unknown;
    try {
      compileMatcher(matcher, 'm', options);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(PolicyProblem);
    expect({ path: (thrown as PolicyProblem).path, message: (thrown as PolicyProblem).message }).toEqual({ path, message });
  });
});
