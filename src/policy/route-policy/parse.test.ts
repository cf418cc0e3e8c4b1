import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { isPosternError } from '../../errors/postern-error.js';
import { parseRoutePolicy, routePolicyProblems } from './policy.js';

const P = 'proxy.routes[0].policy';

/** The error message for a policy written in YAML (flow style keeps the cases on one line). */
function errorOf(yaml: string): string {
  let thrown: unknown;
  try {
    parseRoutePolicy(parse(yaml), P);
  } catch (err) {
    thrown = err;
  }
  expect(isPosternError(thrown, 'CONFIG_INVALID')).toBe(true);
  return (thrown as Error).message;
}

/** A policy whose rule 1 allows `criterion` (written as a YAML flow mapping entry). */
const allowing = (criterion: string) => `[{ allow: { and: [{ ${criterion} }] } }]`;
const AT = `${P}[0].allow.and[0]`;

describe('policy errors', () => {
  // [what, policy as YAML, the whole message]
  const cases: [string, string, string][] = [
    // The shape of the policy, its rules and blocks.
    ['a policy that is not a list', 'allow: { and: [] }', `${P}: write a list of rules, like [{ allow: { and: [{ authenticated_user: true }] } }] (found a single rule: put a - before it)`],
    ['a policy that is a string', 'accept', `${P}: write a list of rules, like [{ allow: { and: [{ authenticated_user: true }] } }]`],
    ['a rule that is not a mapping', '[allow]', `${P}[0]: write a rule with allow and/or deny, like { allow: { and: [{ authenticated_user: true }] } }`],
    ['an empty rule', '[{}]', `${P}[0]: empty; a rule needs allow or deny (or both), like { allow: { and: [{ authenticated_user: true }] } }`],
    ['an unknown rule field', '[{ alow: { and: [] } }]', `${P}[0]: unknown field "alow"; did you mean allow?`],
    ['an unknown rule field far from any', '[{ allow: { and: [] }, when: x }]', `${P}[0]: unknown field "when"; a rule takes allow and deny`],
    ['a block that is not a mapping', '[{ deny: [{ accept: true }] }]', `${P}[0].deny: write one operator (and, or, not, nor) with a list of criteria, like { and: [{ authenticated_user: true }] }`],
    ['an empty block', '[{ allow: {} }]', `${P}[0].allow: empty; write one operator (and, or, not, nor) with a list of criteria, like { and: [{ authenticated_user: true }] }`],
    ['a block with two operators', '[{ allow: { and: [], or: [] } }]', `${P}[0].allow: has 2 operators (and, or); write one per block: use a rule for each, or nest them, like and: [{ or: [...] }, ...]`],
    ['an unknown operator', '[{ allow: { nd: [] } }]', `${P}[0].allow: unknown operator "nd"; did you mean and?`],
    ['an unknown operator far from any', '[{ allow: { xor: [] } }]', `${P}[0].allow: unknown operator "xor"; did you mean or?`],
    ['an unknown operator nothing like one', '[{ allow: { unless: [] } }]', `${P}[0].allow: unknown operator "unless"; the operators are and, or, not, nor`],
    [
      'an operator without a list',
      '[{ allow: { and: { accept: true } } }]',
      `${P}[0].allow.and: write a list of criteria, like and: [{ authenticated_user: true }, { email: { ends_with: "@example.com" } }] (found a mapping: put a - before each criterion)`,
    ],
    // Criteria as list items.
    ['a criterion object with two keys', allowing('email: x, domain: y'), `${AT}: a criterion has exactly one key, not 2 (email, domain); put each in its own list item`],
    ['an empty criterion', '[{ allow: { or: [{}] } }]', `${P}[0].allow.or[0]: empty; write one criterion, like { authenticated_user: true }`],
    ['a bare criterion name', '[{ allow: { or: [authenticated_user] } }]', `${P}[0].allow.or[0]: "authenticated_user" lacks its value; write authenticated_user: true`],
    ['a bare word', '[{ allow: { or: [everyone] } }]', `${P}[0].allow.or[0]: write a criterion as a mapping with one key, like { authenticated_user: true }`],
    ['an unknown criterion', allowing('emial: x'), `${AT}: unknown criterion "emial"; did you mean email?`],
    ['an unknown criterion in capitals', allowing('Source_IP: 10.0.0.0/8'), `${AT}: unknown criterion "Source_IP"; did you mean source_ip?`],
    ['a misspelt claim', allowing('clam/team: sre'), `${AT}: unknown criterion "clam/team"; did you mean claim/team?`],
    ['claims for claim', allowing('claims/team: sre'), `${AT}: unknown criterion "claims/team"; did you mean claim/team?`],
    ['a misspelt claim without a name', allowing('claims: sre'), `${AT}: unknown criterion "claims"; did you mean claim/<name>?`],
    [
      'an unknown criterion nothing like one',
      allowing('team: sre'),
      `${AT}: unknown criterion "team"; the criteria are authenticated_user, accept, reject, user, email, domain, groups, claim/<name>, source_ip; the operators and, or, not, nor`,
    ],
    ['a claim without a name', allowing('claim: sre'), `${AT}.claim: name the trait after the slash: claim/<name>, like claim/team: { has: sre }`],
    ['a claim with an empty name', allowing('claim/: sre'), `${AT}["claim/"]: name the trait after the slash: claim/<name>, like claim/team: { has: sre }`],
    ['a name on a criterion that takes none', allowing('email/work: x'), `${AT}: email takes no name after a slash; write email: { ends_with: "@example.com" }`],
    // Matchers.
    ['an unknown matcher', '[{ allow: { and: [{ authenticated_user: true }] } }, { allow: { and: [{ email: { endswith: "@example.com" } }] } }]', `${P}[1].allow.and[0].email: unknown matcher "endswith"; did you mean ends_with?`],
    ['a list matcher on a string', allowing('user: { has: alice }'), `${AT}.user: unknown matcher "has" (has is not for this criterion); use one of is, starts_with, ends_with, contains, in`],
    ['a string matcher on a list', allowing('groups: { starts_with: eng }'), `${AT}.groups: unknown matcher "starts_with" (starts_with is not for this criterion); use one of has`],
    ['two matchers', allowing('domain: { is: a.com, ends_with: .a.com }'), `${AT}.domain: has 2 matchers (is, ends_with); write one per criterion, and put each in its own criterion under and`],
    ['a claim matcher typo', allowing('claim/team: { hass: sre }'), `${AT}.claim/team: unknown matcher "hass"; did you mean has?`],
    // Wrong value types.
    ['a number for a string', allowing('user: 1000'), `${AT}.user: write a string, or a mapping with one matcher (is, starts_with, ends_with, contains, in), like { in: [alice, bob] }; to compare with the text 1000, quote it: "1000"`],
    ['a number inside a matcher', allowing('claim/uid: { is: 1000 }'), `${AT}.claim/uid.is: write a string; to compare with the text 1000, quote it: "1000"`],
    ['a list for in, not a string', allowing('email: { in: a@b.c }'), `${AT}.email.in: write a list of at least one value, like in: [alice, bob]`],
    ['a bad item in in', allowing('user: { in: [alice, { x: 1 }] }'), `${AT}.user.in[1]: write a string`],
    ['false for authenticated_user', allowing('authenticated_user: false'), `${AT}.authenticated_user: write authenticated_user: true (found false); for the opposite, write not: [{ authenticated_user: true }]`],
    ['nothing for accept', allowing('accept: null'), `${AT}.accept: write accept: true (found nothing)`],
    ['a string for reject', allowing('reject: "yes"'), `${AT}.reject: write reject: true (found "yes")`],
    ['a list of groups', allowing('groups: [a, b]'), `${AT}.groups: write a string, or a mapping with one matcher (has), like { has: sre } (found a list); to match any of several values, write one criterion for each under or`],
    // source_ip.
    ['an invalid CIDR', allowing('source_ip: 10.66.0.0/33'), `${AT}.source_ip: "10.66.0.0/33" has an invalid prefix length; an IPv4 range takes /0 to /32`],
    ['an invalid CIDR in a list', allowing('source_ip: [10.0.0.0/8, 10.66.1.7/16]'), `${AT}.source_ip[1]: "10.66.1.7/16" has bits set after its first 16; write the range as 10.66.0.0/16, or the single address without a prefix`],
    ['an IPv6 range with host bits', allowing('source_ip: "fd00::1/8"'), `${AT}.source_ip: "fd00::1/8" has bits set after its first 8; write the range as fd00::/8, or the single address without a prefix`],
    ['a host name', allowing('source_ip: office.example.com'), `${AT}.source_ip: "office.example.com" is not an IP address or CIDR range; write an address like 10.0.0.5 or 2001:db8::5, or a range like 10.66.0.0/16 or fd00::/8`],
    ['an empty list of addresses', allowing('source_ip: []'), `${AT}.source_ip: an empty list matches no address; list at least one, like [10.66.0.0/16]`],
    ['a number for an address', allowing('source_ip: [10.0.0.0/8, 42]'), `${AT}.source_ip[1]: write an IP address or CIDR range as a string, like 10.66.0.0/16`],
    ['a mapping for an address', allowing('source_ip: { cidr: 10.0.0.0/8 }'), `${AT}.source_ip: write an IP address or CIDR range, or a list of them, like [10.66.0.0/16, "fd00::/8"]`],
    // Paths through nesting and odd keys.
    ['a problem in a nested operator', '[{ deny: { or: [{ accept: true }, { and: [{ not: [{ usr: x }] }] }] } }]', `${P}[0].deny.or[1].and[0].not[0]: unknown criterion "usr"; did you mean user?`],
    ['a nested operator without a list', '[{ allow: { or: [{ and: x }] } }]', `${P}[0].allow.or[0].and: write a list of criteria, like and: [{ authenticated_user: true }, { email: { ends_with: "@example.com" } }]`],
    ['a key with a space', allowing('"claim/my team": { hss: x }'), `${AT}["claim/my team"]: unknown matcher "hss"; did you mean has?`],
  ];
  it.each(cases)('%s', (_, yaml, message) => {
    expect(errorOf(yaml)).toBe(message);
  });

  it('reports every problem at once, one line each', () => {
    const yaml = `
- allow:
    and:
      - emial: x
      - source_ip: 10.0.0.1/8
- deny:
    or: []
    nor: []
- alow: {}
`;
    expect(errorOf(yaml).split('\n')).toEqual([
      `${P}[0].allow.and[0]: unknown criterion "emial"; did you mean email?`,
      `${P}[0].allow.and[1].source_ip: "10.0.0.1/8" has bits set after its first 8; write the range as 10.0.0.0/8, or the single address without a prefix`,
      `${P}[1].deny: has 2 operators (or, nor); write one per block: use a rule for each, or nest them, like and: [{ or: [...] }, ...]`,
      `${P}[2]: unknown field "alow"; did you mean allow?`,
    ]);
    expect(routePolicyProblems(parse(yaml), P).map((p) => p.path)).toEqual([`${P}[0].allow.and[0]`, `${P}[0].allow.and[1].source_ip`, `${P}[1].deny`, `${P}[2]`]);
  });

  it('finds nothing wrong in a good policy', () => {
    const good = `
- allow:
    and:
      - authenticated_user: true
      - email: { ends_with: "@example.com" }
      - domain: { in: [example.com, example.org] }
      - user: { starts_with: a }
      - groups: { has: sre }
      - claim/team: { contains: ops }
      - source_ip: [10.0.0.0/8, "fd00::/8", 192.0.2.7, "::ffff:10.0.0.0/104"]
      - or: [{ accept: true }, { reject: true }]
  deny:
    not: []
- deny:
    nor:
      - user: mallory
`;
    expect(routePolicyProblems(parse(good), P)).toEqual([]);
    expect(() => parseRoutePolicy(parse(good), P)).not.toThrow();
    expect(() => parseRoutePolicy([], P)).not.toThrow();
  });
});
