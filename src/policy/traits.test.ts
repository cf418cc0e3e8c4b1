import { describe, expect, it } from 'vitest';
import { isPosternError } from '../errors/postern-error.js';
import { expandTemplates, templateProblem, type Subject } from './traits.js';

const alice: Subject = { username: 'alice', roles: [], traits: { logins: ['ubuntu', 'alice'], groups: ['dev', 'ops'], blank: [''] } };

describe('template expansion', () => {
  const cases: [string, string[], string[]][] = [
    ['a trait', ['{{internal.logins}}'], ['ubuntu', 'alice']],
    ['the username', ['{{internal.username}}'], ['alice']],
    ['text around the template, one value per trait value', ['{{external.groups}}-admins'], ['dev-admins', 'ops-admins']],
    ['text on both sides', ['x-{{internal.username}}-dev'], ['x-alice-dev']],
    ['spaces inside the braces', ['{{ internal.logins }}'], ['ubuntu', 'alice']],
    ['a missing trait drops the value', ['{{internal.nothing}}', 'root'], ['root']],
    ['an empty trait value drops the value', ['{{internal.blank}}-x'], []],
    ['duplicates once, first place kept', ['alice', '{{internal.logins}}', 'ubuntu'], ['alice', 'ubuntu']],
    ['plain values stay', ['root', 'postgres'], ['root', 'postgres']],
    // external reads traits only: the username is internal.
    ['external.username is a trait, not the username', ['{{external.username}}'], []],
  ];
  it.each(cases)('%s', (_, values, expected) => {
    expect(expandTemplates(values, alice)).toEqual(expected);
  });
});

describe('malformed templates', () => {
  const cases: [string, RegExp][] = [
    ['{{internal.logins', /without a closing }}/],
    ['internal.logins}}', /without an opening {{/],
    ['}}{{internal.logins', /without an opening {{/],
    ['{{foo.bar}}', /unknown namespace "foo"; write {{internal.bar}} or {{external.bar}}/],
    ['{{internal}}', /is not a valid template/],
    ['{{internal.}}', /is not a valid template/],
    ['{{internal.a}}-{{internal.b}}', /one template per value/],
  ];
  it.each(cases)('%s', (value, message) => {
    expect(templateProblem(value)).toMatch(message);
  });

  it('finds nothing wrong in plain values and good templates', () => {
    expect(templateProblem('root')).toBeUndefined();
    expect(templateProblem('{{external.groups}}-x')).toBeUndefined();
  });

  it('refuses to expand a malformed template', () => {
    let thrown: unknown;
    try {
      expandTemplates(['{{internal.logins'], alice);
    } catch (err) {
      thrown = err;
    }
    expect(isPosternError(thrown, 'CONFIG_INVALID')).toBe(true);
  });
});
