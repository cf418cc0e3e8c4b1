import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { PolicyInput } from './criterion.js';
import { evaluateRoutePolicy, parseRoutePolicy, signingInCouldAllow } from './policy.js';

const policy = (yaml: string) => parseRoutePolicy(parse(yaml), 'proxy.routes[0].policy');
const decide = (yaml: string, input: PolicyInput) => evaluateRoutePolicy(policy(yaml), input);

const user = (username: string, traits: Record<string, string[]> = {}, sourceIp = '10.1.2.3'): PolicyInput => ({
  user: { username, roles: [], traits },
  sourceIp,
});
const alice = user('alice', { email: ['alice@example.com'], groups: ['dev', 'ops'] });
const anon: PolicyInput = { sourceIp: '10.1.2.3' };

const A = '{ accept: true }';
const R = '{ reject: true }';

describe('operators', () => {
  // [operator, items, matches?]: accept is true, reject false.
  const table: [string, string[], boolean][] = [
    ['and', [], false],
    ['and', [A], true],
    ['and', [R], false],
    ['and', [A, A], true],
    ['and', [A, R], false],
    ['and', [R, A], false],
    ['and', [R, R], false],
    ['or', [], false],
    ['or', [A], true],
    ['or', [R], false],
    ['or', [A, A], true],
    ['or', [A, R], true],
    ['or', [R, A], true],
    ['or', [R, R], false],
    // not: none of them matches.
    ['not', [], false],
    ['not', [A], false],
    ['not', [R], true],
    ['not', [A, A], false],
    ['not', [A, R], false],
    ['not', [R, A], false],
    ['not', [R, R], true],
    // nor: not all of them match.
    ['nor', [], false],
    ['nor', [A], false],
    ['nor', [R], true],
    ['nor', [A, A], false],
    ['nor', [A, R], true],
    ['nor', [R, A], true],
    ['nor', [R, R], true],
  ];
  it.each(table)('%s %j is %s', (op, items, expected) => {
    const rule = `[{ allow: { ${op}: [${items.join(', ')}] } }]`;
    expect(decide(rule, alice).allow).toBe(expected);
    // Under deny the same block refuses what it matches, even against an allow-all rule.
    expect(decide(`[{ allow: { and: [${A}] } }, { deny: { ${op}: [${items.join(', ')}] } }]`, alice).allow).toBe(!expected);
  });

  it('says why an empty list matches nothing', () => {
    expect(decide('[{ allow: { and: [] } }]', alice).reasons).toEqual(['no allow rule matched: rule 1 needs a non-empty and list (an empty list matches nothing)']);
    expect(decide('[{ allow: { not: [] } }]', alice).reasons).toEqual(['no allow rule matched: rule 1 needs a non-empty not list (an empty list matches nothing)']);
  });

  // [rule body, input, allowed?, reason]
  const nesting: [string, PolicyInput, boolean, string][] = [
    [`and: [{ or: [${R}, ${A}] }, { not: [${R}] }]`, alice, true, 'allow rule 1 matched: accept (matches every request) and not reject (matches no request)'],
    [`or: [{ and: [${A}, ${R}] }, { nor: [${A}, ${A}] }]`, alice, false, 'no allow rule matched: rule 1 needs reject (matches no request) or not (accept (matches every request) and accept (matches every request))'],
    ['or: [{ groups: sre }, { and: [{ source_ip: 10.20.0.0/16 }, { domain: example.com }] }]', user('bob', { email: ['bob@example.com'], groups: ['web'] }, '10.20.0.9'), true, 'allow rule 1 matched: source_ip 10.20.0.0/16 contains 10.20.0.9 and domain is "example.com"'],
    [
      'or: [{ groups: sre }, { and: [{ source_ip: 10.20.0.0/16 }, { domain: example.com }] }]',
      user('bob', { email: ['bob@example.com'], groups: ['web'] }),
      false,
      'no allow rule matched: rule 1 needs groups with "sre" (bob has web) or source_ip in 10.20.0.0/16 (client 10.1.2.3)',
    ],
    [
      'and: [{ authenticated_user: true }, { or: [{ groups: sre }, { groups: ops }] }]',
      user('bob', { groups: ['web'] }),
      false,
      // The failing part of an and stands alone: no parentheses needed.
      'no allow rule matched: rule 1 needs groups with "sre" (bob has web) or groups with "ops" (bob has web)',
    ],
    [
      'not: [{ or: [{ groups: interns }, { source_ip: 192.168.100.0/24 }] }]',
      alice,
      true,
      'allow rule 1 matched: not (groups with "interns" (alice has dev, ops) or source_ip in 192.168.100.0/24 (client 10.1.2.3))',
    ],
    ['and: [{ and: [{ and: [{ user: alice }] }] }]', alice, true, 'allow rule 1 matched: user is "alice"'],
    ['or: [{ not: [{ not: [{ user: alice }] }] }]', alice, true, 'allow rule 1 matched: not not user "alice" (the user is alice)'],
    ['and: [{ or: [] }, { accept: true }]', alice, false, 'no allow rule matched: rule 1 needs a non-empty or list (an empty list matches nothing)'],
  ];
  it.each(nesting)('nests %s', (body, input, allow, reason) => {
    expect(decide(`[{ allow: { ${body} } }]`, input)).toEqual({ allow, reasons: [reason] });
  });
});

describe('reasons of not and nor', () => {
  const cases: [string, PolicyInput, boolean, string][] = [
    ['deny: { not: [{ source_ip: 10.0.0.0/8 }] }', user('bob', {}, '192.168.1.20'), false, 'deny rule 2 matched: not source_ip in 10.0.0.0/8 (client 192.168.1.20)'],
    [
      'deny: { not: [{ source_ip: 10.0.0.0/8 }, { groups: sre }] }',
      user('bob', { groups: ['web'] }, '192.168.1.20'),
      false,
      'deny rule 2 matched: not source_ip in 10.0.0.0/8 (client 192.168.1.20) and not groups with "sre" (bob has web)',
    ],
    ['deny: { nor: [{ source_ip: 10.10.0.0/16 }, { groups: sre }] }', user('bob', { groups: ['sre'] }), false, 'deny rule 2 matched: not source_ip in 10.10.0.0/16 (client 10.1.2.3)'],
    ['deny: { nor: [{ source_ip: 10.10.0.0/16 }, { groups: sre }] }', user('bob', { groups: ['sre'] }, '10.10.0.1'), true, 'allow rule 1 matched: accept (matches every request)'],
  ];
  it.each(cases)('%s', (deny, input, allow, reason) => {
    expect(decide(`[{ allow: { and: [${A}] } }, { ${deny} }]`, input)).toEqual({ allow, reasons: [reason], ...(allow ? {} : { denied: true }) });
  });

  it('names what a not or nor allow rule could not get past', () => {
    const carol = user('carol', { groups: ['dev', 'interns'] });
    expect(decide('[{ allow: { not: [{ groups: interns }, { user: mallory }] } }]', carol).reasons).toEqual([
      'no allow rule matched: rule 1 needs not groups with "interns" (carol has dev, interns)',
    ]);
    expect(decide('[{ allow: { nor: [{ groups: interns }, { authenticated_user: true }] } }]', carol).reasons).toEqual([
      'no allow rule matched: rule 1 needs not (groups with "interns" (carol has dev, interns) and a signed-in user (carol is signed in))',
    ]);
    expect(decide('[{ allow: { nor: [{ groups: interns }] } }]', carol).reasons).toEqual(['no allow rule matched: rule 1 needs not groups with "interns" (carol has dev, interns)']);
  });
});

describe('decisions', () => {
  const example = `
- allow:
    and:
      - authenticated_user: true
      - email: { ends_with: "@example.com" }
- deny:
    or:
      - source_ip: 10.66.0.0/16
`;

  it('decides the documented example as documented', () => {
    expect(decide(example, user('alice', { email: ['alice@example.com'] }))).toEqual({
      allow: true,
      reasons: ['allow rule 1 matched: authenticated_user (alice is signed in) and email ends with "@example.com" (alice@example.com)'],
    });
    expect(decide(example, user('alice', { email: ['alice@example.com'] }, '10.66.1.7'))).toEqual({ allow: false, denied: true,
      reasons: ['deny rule 2 matched: source_ip 10.66.0.0/16 contains 10.66.1.7'],
    });
    expect(decide(example, user('alice', { email: ['alice@other.org'] }))).toEqual({
      allow: false,
      reasons: ['no allow rule matched: rule 1 needs email ending with "@example.com" (alice has alice@other.org)'],
    });
    expect(decide(example, anon)).toEqual({
      allow: false,
      reasons: ['no allow rule matched: rule 1 needs a signed-in user (the request carries no identity)'],
    });
    // Unauthenticated from the denied network: deny still wins, and says why.
    expect(decide(example, { sourceIp: '10.66.1.7' })).toEqual({ allow: false, denied: true, reasons: ['deny rule 2 matched: source_ip 10.66.0.0/16 contains 10.66.1.7'] });
  });

  it('lets deny win over every allow, naming every deny rule that matched', () => {
    const d = decide(`[{ allow: { or: [${A}] } }, { deny: { or: [{ user: alice }] } }, { allow: { or: [{ user: alice }] } }, { deny: { and: [{ groups: ops }] } }]`, alice);
    expect(d).toEqual({ allow: false, denied: true, reasons: ['deny rule 2 matched: user is "alice"', 'deny rule 4 matched: groups has "ops"'] });
  });

  it('names every allow rule that matched', () => {
    const d = decide(`[{ allow: { or: [{ user: alice }] } }, { allow: { or: [{ user: bob }] } }, { allow: { and: [{ groups: dev }] } }]`, alice);
    expect(d).toEqual({ allow: true, reasons: ['allow rule 1 matched: user is "alice"', 'allow rule 3 matched: groups has "dev"'] });
  });

  it('denies by default, saying what each allow rule needs', () => {
    const d = decide(`[{ allow: { and: [{ user: bob }] } }, { deny: { or: [{ user: mallory }] } }, { allow: { or: [{ groups: sre }, { groups: admins }] } }]`, alice);
    expect(d).toEqual({
      allow: false,
      reasons: ['no allow rule matched: rule 1 needs user "bob" (the user is alice); rule 3 needs groups with "sre" (alice has dev, ops) or groups with "admins" (alice has dev, ops)'],
    });
  });

  it('denies with only deny rules, and with no rules at all', () => {
    expect(decide(`[{ deny: { or: [{ user: mallory }] } }]`, alice)).toEqual({ allow: false, reasons: ['no allow rule matched: the policy has only deny rules'] });
    expect(decide('[]', alice)).toEqual({ allow: false, reasons: ['the route policy has no rules, so it allows no one'] });
    expect(decide('[]', anon).allow).toBe(false);
  });

  it('takes allow and deny in one rule, under one number', () => {
    const rule = '[{ allow: { and: [{ authenticated_user: true }] }, deny: { or: [{ groups: contractors }] } }]';
    expect(decide(rule, alice)).toEqual({ allow: true, reasons: ['allow rule 1 matched: authenticated_user (alice is signed in)'] });
    expect(decide(rule, user('eve', { groups: ['contractors'] }))).toEqual({ allow: false, denied: true, reasons: ['deny rule 1 matched: groups has "contractors"'] });
  });

  it('refuses identity criteria to a request without identity, and grants identity-free ones', () => {
    expect(decide('[{ allow: { or: [{ source_ip: 10.0.0.0/8 }] } }]', anon).allow).toBe(true);
    expect(decide('[{ allow: { not: [{ authenticated_user: true }] } }]', anon)).toEqual({
      allow: true,
      reasons: ['allow rule 1 matched: not a signed-in user (the request carries no identity)'],
    });
    expect(decide('[{ allow: { not: [{ authenticated_user: true }] } }]', alice)).toEqual({
      allow: false,
      reasons: ['no allow rule matched: rule 1 needs not a signed-in user (alice is signed in)'],
    });
    // A deny on an identity criterion does not match without identity…
    expect(decide(`[{ allow: { or: [${A}] } }, { deny: { or: [{ groups: contractors }] } }]`, anon).allow).toBe(true);
    // …so a deny meant to keep strangers out must say so with not.
    expect(decide(`[{ allow: { or: [${A}] } }, { deny: { not: [{ groups: staff }] } }]`, anon)).toEqual({ allow: false, denied: true,
      reasons: ['deny rule 2 matched: not groups with "staff" (the request carries no identity)'],
    });
  });

  it('returns frozen decisions, and never changes between calls', () => {
    const p = policy(example);
    const d = evaluateRoutePolicy(p, alice);
    expect(Object.isFrozen(d)).toBe(true);
    expect(Object.isFrozen(d.reasons)).toBe(true);
    expect(Object.isFrozen(p)).toBe(true);
    expect(evaluateRoutePolicy(p, alice)).toEqual(d);
  });

  it('reads the input without keeping anything from one call to the next', () => {
    const p = policy('[{ allow: { or: [{ source_ip: "2001:db8::/32" }, { source_ip: 10.0.0.0/8 }] } }]');
    expect(evaluateRoutePolicy(p, user('a', {}, '2001:db8::1')).allow).toBe(true);
    expect(evaluateRoutePolicy(p, user('a', {}, '192.168.0.1')).allow).toBe(false);
    expect(evaluateRoutePolicy(p, user('a', {}, '10.0.0.1')).allow).toBe(true);
    expect(evaluateRoutePolicy(p, user('a', {}, '2001:db9::1')).allow).toBe(false);
  });
});

describe('signingInCouldAllow (401 or 403 for a request without identity)', () => {
  const could = (yaml: string, sourceIp = '10.1.2.3') => signingInCouldAllow(policy(yaml), { sourceIp });
  const email = '{ email: { ends_with: "@example.com" } }';
  const office = '{ source_ip: 10.0.0.0/8 }';
  const home = '{ source_ip: 192.168.0.0/16 }';

  it('says yes when an allow rule reads the identity and nothing outside it refuses', () => {
    expect(could(`[{ allow: { and: [{ authenticated_user: true }] } }]`)).toBe(true);
    expect(could(`[{ allow: { and: [${office}, ${email}] } }]`)).toBe(true);
    expect(could(`[{ allow: { or: [${home}, ${email}] } }]`)).toBe(true);
  });

  it('says no when the request facts already rule every allow rule out', () => {
    expect(could(`[{ allow: { and: [${home}, ${email}] } }]`)).toBe(false);
    expect(could(`[{ allow: { and: [${home}] } }, { allow: { and: [${R}, ${email}] } }]`)).toBe(false);
    expect(could(`[{ deny: { and: [${office}] } }, { allow: { and: [${email}] } }]`)).toBe(false);
    expect(could(`[{ allow: { not: [${office}, ${email}] } }]`)).toBe(false);
    expect(could('[]')).toBe(false);
  });

  it('names what rules the request out whoever signs in, not what signing in would supply', () => {
    const d = evaluateRoutePolicy(policy(`[{ allow: { and: [${email}, ${office}] } }]`), { sourceIp: '192.168.1.9' });
    expect(d.reasons).toEqual(['no allow rule matched: rule 1 needs source_ip in 10.0.0.0/8 (client 192.168.1.9)']);
  });

  it('follows three-valued logic through every operator', () => {
    // nor: not all match; one request fact failing settles it, an unknown leaves it open.
    expect(could(`[{ allow: { nor: [${home}, ${email}] } }]`)).toBe(true);
    expect(could(`[{ allow: { nor: [${office}, ${A}] } }]`)).toBe(false);
    // A deny that depends on who you are does not settle anything before sign-in.
    expect(could(`[{ deny: { and: [${office}, ${email}] } }, { allow: { and: [${A}] } }]`)).toBe(true);
    expect(could(`[{ allow: { and: [{ or: [${home}, { not: [${email}] }] }] } }]`)).toBe(true);
    expect(could(`[{ allow: { and: [{ or: [${home}, { and: [${R}, ${email}] }] }] } }]`)).toBe(false);
  });
});
