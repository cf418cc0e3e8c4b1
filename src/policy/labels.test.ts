import { describe, expect, it } from 'vitest';
import { compileSelector, formatLabels, labelValueProblem, selectorProblems, type LabelSelector, type Labels } from './labels.js';

describe('label selectors', () => {
  const cases: [string, LabelSelector, Labels, boolean][] = [
    ['an exact value', { env: 'dev' }, { env: 'dev' }, true],
    ['an exact value, another label value', { env: 'dev' }, { env: 'prod' }, false],
    ['* with the label', { env: '*' }, { env: 'anything' }, true],
    ['* without the label', { env: '*' }, { team: 'web' }, false],
    ['a glob *', { name: 'web-*' }, { name: 'web-12' }, true],
    ['a glob is anchored', { name: 'web-*' }, { name: 'old-web-1' }, false],
    ['a glob ? is one character', { name: 'web-?' }, { name: 'web-12' }, false],
    ['a glob ? matches one character', { name: 'web-?' }, { name: 'web-1' }, true],
    ['glob dots are literal', { host: '*.example.com' }, { host: 'a.exampleXcom' }, false],
    ['a regex', { team: '^(web|api)$' }, { team: 'api' }, true],
    ['a regex, no match', { team: '^(web|api)$' }, { team: 'db' }, false],
    ['regex anchors hold for every alternative', { team: '^web|api$' }, { team: 'webserver' }, false],
    ['regex-looking characters in a glob are literal', { v: 'a+b' }, { v: 'aab' }, false],
    ['a list, second value', { env: ['dev', 'staging'] }, { env: 'staging' }, true],
    ['a list, no value', { env: ['dev', 'staging'] }, { env: 'prod' }, false],
    ['a list mixing glob and regex', { env: ['dev-*', '^qa[0-9]$'] }, { env: 'qa7' }, true],
    ['every key must match', { env: 'dev', team: 'web' }, { env: 'dev', team: 'db' }, false],
    ['a missing label fails the key', { env: 'dev', team: 'web' }, { env: 'dev' }, false],
    ['all keys match', { env: 'dev', team: 'web' }, { env: 'dev', team: 'web', extra: 'x' }, true],
    ["'*': '*' matches a resource with no labels", { '*': '*' }, {}, true],
    ["'*': '*' beside a key adds nothing", { '*': '*', env: 'dev' }, { env: 'prod' }, false],
    ['an empty selector matches nothing', {}, { env: 'dev' }, false],
  ];
  it.each(cases)('%s', (_, selector, labels, expected) => {
    expect(compileSelector(selector).matches(labels)).toBe(expected);
  });

  it('compiles a selector object once', () => {
    const selector = { env: 'dev' };
    expect(compileSelector(selector)).toBe(compileSelector(selector));
    expect(compileSelector({ env: 'dev' })).not.toBe(compileSelector(selector));
  });

  it('says why it matched or did not', () => {
    const matcher = compileSelector({ env: ['dev', 'staging'], team: '^(web|api)$' });
    expect(matcher.explainMatch({ env: 'dev', team: 'web' })).toBe('env=dev, team=web matches (env: [dev, staging], team: ^(web|api)$)');
    expect(matcher.explainMismatch({ env: 'prod', team: 'web' })).toBe('needs env in [dev, staging]');
    expect(matcher.explainMismatch({})).toBe('needs env in [dev, staging] and team=^(web|api)$');
    expect(compileSelector({ '*': '*' }).explainMatch({})).toBe(`'*': '*' matches everything`);
    expect(formatLabels({ env: 'prod', team: 'web' })).toBe('labels env=prod, team=web');
    expect(formatLabels({})).toBe('no labels');
  });
});

describe('selector problems', () => {
  const cases: [string, Record<string, unknown>, (string | number)[], RegExp][] = [
    ['an invalid regex', { team: '^(web' }, ['team'], /"\^\(web" is not a valid regular expression/],
    ['a regex without $', { team: '^web' }, ['team'], /does not end with \$/],
    ['a value ending in $ only', { team: 'web$' }, ['team'], /does not start with \^/],
    ['an empty value', { team: '' }, ['team'], /cannot be empty/],
    ['a bad value inside a list', { team: ['web', '^(x'] }, ['team', 1], /not a valid regular expression/],
    ['a number', { team: 5 }, ['team'], /a value or a list of values/],
    ['an empty list', { team: [] }, ['team'], /a value or a list of values/],
    ["'*' with another value", { '*': 'web' }, ['*'], /only takes the value '\*'/],
    ['an empty selector', {}, [], /matches nothing/],
  ];
  it.each(cases)('%s', (_, selector, path, message) => {
    const problems = selectorProblems(selector);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.path).toEqual(path);
    expect(problems[0]!.message).toMatch(message);
  });

  it('accepts every form of value', () => {
    expect(selectorProblems({ '*': '*', env: ['dev', 'st?g*'], team: '^(web|api)$', tier: '*' })).toEqual([]);
    expect(labelValueProblem('^$')).toBeUndefined();
  });
});
