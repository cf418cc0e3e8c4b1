import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CRITERIA } from './criteria.js';
import type { PolicyInput } from './criterion.js';
import { OPERATORS } from './operators.js';
import { evaluateRoutePolicy, parseRoutePolicy, routePolicyProblems } from './policy.js';

/** docs/policy-language.md stays in step with the code: its names, examples, reasons and errors. */

const doc = readFileSync(new URL('../../../docs/policy-language.md', import.meta.url), 'utf8');
const yamlBlocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
const P = 'proxy.routes[0].policy';

const user = (username: string, traits: Record<string, string[]>, sourceIp = '10.1.2.3'): PolicyInput => ({ user: { username, roles: [], traits }, sourceIp });
const decide = (yaml: string, input: PolicyInput) => evaluateRoutePolicy(parseRoutePolicy(parse(yaml), P), input);

describe('docs/policy-language.md', () => {
  it('has a row for every criterion and operator', () => {
    for (const name of CRITERIA) expect(doc).toContain(`| \`${name}\` |`);
    for (const op of OPERATORS) expect(doc).toContain(`| \`${op}\` |`);
  });

  it('shows only policies that parse', () => {
    expect(yamlBlocks.length).toBeGreaterThan(10);
    for (const block of yamlBlocks) {
      const value = parse(block);
      const policy = value.proxy?.routes?.[0]?.policy ?? value.policy ?? value;
      expect(routePolicyProblems(policy, P), block).toEqual([]);
    }
  });

  it('gives the reasons the example really gives', () => {
    const example = parse(yamlBlocks[0]!).proxy.routes[0].policy;
    const reason = (input: PolicyInput) => evaluateRoutePolicy(parseRoutePolicy(example, P), input).reasons.join('\n');
    for (const text of [
      reason(user('alice', { email: ['alice@example.com'] })),
      reason(user('alice', { email: ['alice@example.com'] }, '10.66.1.7')),
      reason(user('alice', { email: ['alice@other.org'] })),
      reason({ sourceIp: '10.1.2.3' }),
    ]) {
      expect(doc).toContain(`| ${text.startsWith('allow') ? 'allowed' : 'denied'}: \`${text}\` |`);
      expect(doc).toContain(`\n${text}\n`); // in the Reasons section too
    }
  });

  it('gives the reasons of the Reasons section', () => {
    const reasons = [
      decide(
        '[{ allow: { and: [{ email: { ends_with: "@example.com" } }] } }, { deny: { or: [{ user: mallory }] } }, { allow: { or: [{ groups: sre }] } }]',
        user('bob', { email: ['bob@other.org'], groups: ['dev', 'web'] }),
      ),
      decide('[{ allow: { or: [{ accept: true }] } }, { deny: { not: [{ source_ip: 10.0.0.0/8 }] } }]', user('bob', {}, '192.168.1.20')),
      decide('[{ allow: { not: [{ groups: interns }] } }]', user('carol', { groups: ['interns'] })),
      decide('[]', { sourceIp: '10.1.2.3' }),
    ].map((d) => d.reasons.join('\n'));
    for (const text of reasons) expect(doc).toContain(`\n${text}\n`);
  });

  it('shows the errors the parser really gives', () => {
    const errors = [
      '[{ allow: { and: [{ authenticated_user: true }] } }, { allow: { and: [{ email: { endswith: "@example.com" } }] } }]',
      '[{ allow: { and: [{ authenticated_user: true }, { emial: x }] } }]',
      '[{ allow: { and: [], or: [] } }]',
      '[{ allow: { and: [{ email: x, domain: y }] } }]',
      '[{ allow: { and: [] } }, {}, { deny: { or: [{ source_ip: 10.66.1.7/16 }] } }]',
      '[{ allow: { and: [{ accept: true }, { accept: true }, { authenticated_user: false }] } }]',
    ].map((yaml) => routePolicyProblems(parse(yaml), P).map((p) => `${p.path}: ${p.message}`));
    for (const lines of errors) expect(doc).toContain(`\n${lines.at(-1)}\n`);
  });
});
