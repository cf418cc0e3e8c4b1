import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CRITERIA } from './criteria.js';
import type { PolicyInput } from './criterion.js';
import { evaluateRoutePolicy, parseRoutePolicy } from './policy.js';

/**
 * Every criterion, through a policy of one allow rule holding only that criterion, so both the
 * outcome and the exact phrase of the reason are checked.
 */

const alice: PolicyInput = {
  user: { username: 'alice', roles: ['dev'], traits: { email: ['Alice@Example.com'], groups: ['dev', 'ops'], team: ['sre', 'web'] } },
  sourceIp: '10.1.2.3',
};
const bob: PolicyInput = { user: { username: 'bob', roles: [], traits: {} }, sourceIp: '10.1.2.3' };
const carol: PolicyInput = { user: { username: 'carol', roles: [], traits: { email: ['carol'], groups: [] } }, sourceIp: '10.1.2.3' };
const twoEmails: PolicyInput = { user: { username: 'dave', roles: [], traits: { email: ['dave@other.org', 'dave@example.com'] } }, sourceIp: '10.1.2.3' };
const anon: PolicyInput = { sourceIp: '10.1.2.3' };
const from = (sourceIp: string): PolicyInput => ({ ...alice, sourceIp });

/** [criterion as YAML, input, allowed?, reason]. */
type Case = [string, PolicyInput, boolean, string];

function check(criterion: string, input: PolicyInput): { allow: boolean; reason: string } {
  const policy = parseRoutePolicy(parse(`[{ allow: { and: [{ ${criterion} }] } }]`), 'policy');
  const d = evaluateRoutePolicy(policy, input);
  expect(d.reasons).toHaveLength(1);
  return { allow: d.allow, reason: d.reasons[0]! };
}

const matched = (what: string) => `allow rule 1 matched: ${what}`;
const needs = (what: string) => `no allow rule matched: rule 1 needs ${what}`;

const cases: Record<string, Case[]> = {
  authenticated_user: [
    ['authenticated_user: true', alice, true, matched('authenticated_user (alice is signed in)')],
    ['authenticated_user: true', anon, false, needs('a signed-in user (the request carries no identity)')],
  ],
  accept: [
    ['accept: true', anon, true, matched('accept (matches every request)')],
    ['accept: true', alice, true, matched('accept (matches every request)')],
  ],
  reject: [
    ['reject: true', alice, false, needs('reject (matches no request)')],
    ['reject: true', anon, false, needs('reject (matches no request)')],
  ],
  user: [
    ['user: alice', alice, true, matched('user is "alice"')],
    ['user: { is: alice }', alice, true, matched('user is "alice"')],
    ['user: bob', alice, false, needs('user "bob" (the user is alice)')],
    ['user: Alice', alice, false, needs('user "Alice" (the user is alice)')], // case matters
    ['user: { starts_with: al }', alice, true, matched('user starts with "al" (alice)')],
    ['user: { ends_with: ce }', alice, true, matched('user ends with "ce" (alice)')],
    ['user: { contains: lic }', alice, true, matched('user contains "lic" (alice)')],
    ['user: { contains: bo }', alice, false, needs('user containing "bo" (the user is alice)')],
    ['user: { in: [bob, alice] }', alice, true, matched('user in ["bob", "alice"] (alice)')],
    ['user: { in: [bob, carol] }', alice, false, needs('user in ["bob", "carol"] (the user is alice)')],
    ['user: alice', anon, false, needs('user "alice" (the request carries no identity)')],
  ],
  email: [
    ['email: { ends_with: "@example.com" }', alice, true, matched('email ends with "@example.com" (Alice@Example.com)')],
    ['email: { ends_with: "@EXAMPLE.COM" }', alice, true, matched('email ends with "@EXAMPLE.COM" (Alice@Example.com)')], // case does not
    ['email: alice@example.com', alice, true, matched('email is "alice@example.com"')],
    ['email: { starts_with: alice@ }', alice, true, matched('email starts with "alice@" (Alice@Example.com)')],
    ['email: { in: [x@y.z, ALICE@example.com] }', alice, true, matched('email in ["x@y.z", "ALICE@example.com"] (Alice@Example.com)')],
    ['email: { ends_with: "@other.org" }', alice, false, needs('email ending with "@other.org" (alice has Alice@Example.com)')],
    ['email: { ends_with: "@example.com" }', bob, false, needs('email ending with "@example.com" (bob has no email)')],
    ['email: { ends_with: "@example.com" }', anon, false, needs('email ending with "@example.com" (the request carries no identity)')],
    // Only the first value of the trait counts.
    ['email: { ends_with: "@example.com" }', twoEmails, false, needs('email ending with "@example.com" (dave has dave@other.org)')],
  ],
  domain: [
    ['domain: example.com', alice, true, matched('domain is "example.com"')],
    ['domain: { is: EXAMPLE.com }', alice, true, matched('domain is "EXAMPLE.com"')],
    ['domain: { ends_with: .com }', alice, true, matched('domain ends with ".com" (Example.com)')],
    ['domain: ample.com', alice, false, needs('domain "ample.com" (alice has Example.com)')],
    ['domain: { in: [example.org, example.com] }', alice, true, matched('domain in ["example.org", "example.com"] (Example.com)')],
    ['domain: example.com', bob, false, needs('domain "example.com" (bob has no email)')],
    ['domain: example.com', carol, false, needs('domain "example.com" (carol\'s email "carol" has no domain)')],
    ['domain: example.com', anon, false, needs('domain "example.com" (the request carries no identity)')],
  ],
  groups: [
    ['groups: ops', alice, true, matched('groups has "ops"')],
    ['groups: { has: dev }', alice, true, matched('groups has "dev"')],
    ['groups: { has: OPS }', alice, false, needs('groups with "OPS" (alice has dev, ops)')], // exact
    ['groups: { has: admin }', alice, false, needs('groups with "admin" (alice has dev, ops)')],
    ['groups: admin', bob, false, needs('groups with "admin" (bob has no groups)')],
    ['groups: admin', carol, false, needs('groups with "admin" (carol has no groups)')], // an empty trait is none
    ['groups: admin', anon, false, needs('groups with "admin" (the request carries no identity)')],
  ],
  'claim/<name>': [
    ['claim/team: { has: web }', alice, true, matched('claim/team has "web"')],
    ['claim/team: sre', alice, true, matched('claim/team has "sre"')],
    ['claim/team: { is: web }', alice, true, matched('claim/team is "web"')],
    ['claim/team: { is: ops }', alice, false, needs('claim/team "ops" (alice has sre, web)')],
    ['claim/team: { ends_with: eb }', alice, true, matched('claim/team ends with "eb" (web)')],
    ['claim/team: { starts_with: s }', alice, true, matched('claim/team starts with "s" (sre)')],
    ['claim/team: { contains: x }', alice, false, needs('claim/team containing "x" (alice has sre, web)')],
    ['claim/team: { in: [db, web] }', alice, true, matched('claim/team in ["db", "web"] (web)')],
    ['claim/team: { has: db }', alice, false, needs('claim/team with "db" (alice has sre, web)')],
    ['claim/department: eng', alice, false, needs('claim/department with "eng" (alice has no department)')],
    ['claim/groups: { has: ops }', alice, true, matched('claim/groups has "ops"')],
    ['claim/email: { ends_with: "@Example.com" }', alice, true, matched('claim/email ends with "@Example.com" (Alice@Example.com)')],
    ['claim/email: { ends_with: "@example.com" }', alice, false, needs('claim/email ending with "@example.com" (alice has Alice@Example.com)')], // exact
    ['claim/constructor: x', alice, false, needs('claim/constructor with "x" (alice has no constructor)')], // not Object.prototype
    ['claim/team: sre', anon, false, needs('claim/team with "sre" (the request carries no identity)')],
  ],
  source_ip: [
    ['source_ip: 10.0.0.0/8', alice, true, matched('source_ip 10.0.0.0/8 contains 10.1.2.3')],
    ['source_ip: 10.1.2.3', alice, true, matched('source_ip is 10.1.2.3')],
    ['source_ip: 10.1.2.3/32', alice, true, matched('source_ip is 10.1.2.3')],
    ['source_ip: [192.168.0.0/16, 10.1.0.0/16]', alice, true, matched('source_ip 10.1.0.0/16 contains 10.1.2.3')],
    ['source_ip: 192.168.0.0/16', alice, false, needs('source_ip in 192.168.0.0/16 (client 10.1.2.3)')],
    ['source_ip: [192.168.0.0/16, "fd00::/8"]', alice, false, needs('source_ip in [192.168.0.0/16, fd00::/8] (client 10.1.2.3)')],
    ['source_ip: 10.0.0.0/8', anon, true, matched('source_ip 10.0.0.0/8 contains 10.1.2.3')], // no identity needed
    ['source_ip: 0.0.0.0/0', from('203.0.113.9'), true, matched('source_ip 0.0.0.0/0 contains 203.0.113.9')],
    ['source_ip: "2001:db8::/32"', from('2001:db8:0:1::5'), true, matched('source_ip 2001:db8::/32 contains 2001:db8:0:1::5')],
    ['source_ip: "2001:db8::/32"', from('2001:db9::5'), false, needs('source_ip in 2001:db8::/32 (client 2001:db9::5)')],
    ['source_ip: "2001:db8::5"', from('2001:DB8:0:0:0:0:0:5'), true, matched('source_ip is 2001:DB8:0:0:0:0:0:5')],
    ['source_ip: "fe80::/10"', from('fe80::1%eth0'), true, matched('source_ip fe80::/10 contains fe80::1%eth0')], // zone ignored
    ['source_ip: "2001:db8::/32"', from('10.1.2.3'), false, needs('source_ip in 2001:db8::/32 (client 10.1.2.3)')],
    ['source_ip: 10.0.0.0/8', from('2001:db8::a01:203'), false, needs('source_ip in 10.0.0.0/8 (client 2001:db8::a01:203)')],
    // An IPv4-mapped client is its IPv4 address…
    ['source_ip: 10.0.0.0/8', from('::ffff:10.1.2.3'), true, matched('source_ip 10.0.0.0/8 contains ::ffff:10.1.2.3')],
    ['source_ip: 10.1.2.3', from('::ffff:a01:203'), true, matched('source_ip is ::ffff:a01:203')],
    ['source_ip: 10.0.0.0/8', from('::ffff:192.168.1.1'), false, needs('source_ip in 10.0.0.0/8 (client ::ffff:192.168.1.1)')],
    ['source_ip: "::/0"', from('::ffff:10.1.2.3'), false, needs('source_ip in ::/0 (client ::ffff:10.1.2.3)')],
    ['source_ip: "::/0"', from('::1'), true, matched('source_ip ::/0 contains ::1')],
    // …and a mapped range is the IPv4 range.
    ['source_ip: "::ffff:10.0.0.0/104"', alice, true, matched('source_ip ::ffff:10.0.0.0/104 contains 10.1.2.3')],
    ['source_ip: 10.0.0.0/8', from('not-an-ip'), false, needs('source_ip in 10.0.0.0/8 (client address "not-an-ip" is not an IP address)')],
    ['source_ip: 10.0.0.0/8', from(''), false, needs('source_ip in 10.0.0.0/8 (client address "" is not an IP address)')],
  ],
};

describe('criteria', () => {
  it('covers every criterion of the table', () => {
    expect(Object.keys(cases).sort()).toEqual([...CRITERIA].sort());
  });

  for (const [name, table] of Object.entries(cases)) {
    describe(name, () => {
      it.each(table)('%s', (criterion, input, allow, reason) => {
        expect(check(criterion, input)).toEqual({ allow, reason });
      });
    });
  }
});
