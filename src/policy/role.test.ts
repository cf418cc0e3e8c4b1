import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { isPosternError } from '../errors/postern-error.js';
import { DEV_ACCESS_YAML } from '../../test/helpers/example-role.js';
import { lineProblems } from '../wire/role-problems.js';
import { BUILTIN_ROLES, parseRole, parseRoleYaml, roleToYaml, type Role } from './role.js';

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isPosternError(err, 'CONFIG_INVALID')) return err.message;
    throw err;
  }
  throw new Error('expected an error');
}

/** A valid role with `change` applied to a copy of its parsed YAML. */
function exampleWith(change: (raw: Record<string, any>) => void): Record<string, unknown> {
  const raw = parse(DEV_ACCESS_YAML) as Record<string, any>;
  change(raw);
  return raw;
}

describe('parseRole', () => {
  it('parses the documented example', () => {
    expect(parseRole(parse(DEV_ACCESS_YAML))).toEqual({
      kind: 'role',
      version: 'v1',
      metadata: { name: 'dev-access' },
      spec: {
        options: { max_session_ttl: 8 * 3_600_000 },
        allow: {
          logins: ['{{internal.logins}}', 'root'],
          node_labels: { env: 'dev' },
          app_labels: { env: ['dev', 'staging'], team: '^(web|api)$' },
        },
        deny: { app_labels: { team: 'finance' } },
      },
    } satisfies Role);
  });

  it('parses the example in docs/roles.md', () => {
    const doc = readFileSync(new URL('../../docs/roles.md', import.meta.url), 'utf8');
    const example = /```yaml\n(kind: role[\s\S]*?)```/.exec(doc)?.[1];
    expect(parseRole(parse(example!)).metadata).toEqual({ name: 'dev-access', description: 'Developers on dev and staging' });
  });

  it('fills options, allow and deny when left out', () => {
    const role = parseRole({ kind: 'role', version: 'v1', metadata: { name: 'empty' } });
    expect(role.spec).toEqual({ options: {}, allow: {}, deny: {} });
  });

  it('freezes the role, so matchers remembered by object stay true', () => {
    const role = parseRole(parse(DEV_ACCESS_YAML));
    expect(Object.isFrozen(role.spec.allow.app_labels)).toBe(true);
    expect(Object.isFrozen(role.spec.allow.logins)).toBe(true);
  });

  const problems: [string, (raw: Record<string, any>) => void, RegExp][] = [
    ['a bad regex', (r) => (r.spec.allow.app_labels.team = '^(web'), /\n {2}spec\.allow\.app_labels\.team: "\^\(web" is not a valid regular expression/],
    ['an unknown key, with a hint', (r) => (r.spec.allow.logns = ['x']), /\n {2}spec\.allow\.logns: unknown field; did you mean logins\?/],
    ['an unknown key, listing the fields', (r) => (r.metadata.zzz = 1), /\n {2}metadata\.zzz: unknown field; the fields here are name, description/],
    ['a bad duration', (r) => (r.spec.options.max_session_ttl = '8 hours'), /\n {2}spec\.options\.max_session_ttl: "8 hours" is not a duration; write a number with a unit/],
    ['a duration as a number', (r) => (r.spec.options.max_session_ttl = 3600), /\n {2}spec\.options\.max_session_ttl: write a duration with a unit, like 8h/],
    ['a too short duration', (r) => (r.spec.options.max_session_ttl = '30s'), /\n {2}spec\.options\.max_session_ttl: "30s" is shorter than the 1m minimum/],
    ['a bad verb', (r) => (r.spec.allow.rules = [{ resources: ['user'], verbs: ['lst'] }]), /\n {2}spec\.allow\.rules\[0\]\.verbs\[0\]: "lst" is not a known verb \(did you mean list\?\)/],
    ['a bad admin resource', (r) => (r.spec.deny.rules = [{ resources: ['users'], verbs: ['*'] }]), /\n {2}spec\.deny\.rules\[0\]\.resources\[0\]: "users" is not a known admin resource \(did you mean user\?\)/],
    ['an empty rule list', (r) => (r.spec.allow.rules = [{ resources: [], verbs: ['list'] }]), /\n {2}spec\.allow\.rules\[0\]\.resources: list at least one admin resource/],
    ['a bad name', (r) => (r.metadata.name = 'Dev Access'), /\n {2}metadata\.name: "Dev Access" is not a valid role name; use 1-63 lower-case/],
    ['a missing name', (r) => delete r.metadata.name, /\n {2}metadata\.name: missing; name the role/],
    ['a wrong version', (r) => (r.version = 'v2'), /\n {2}version: "v2" is not a role version; the only version is v1/],
    ['a wrong kind', (r) => (r.kind = 'user'), /\n {2}kind: "user" is not a role; write kind: role/],
    ['a malformed template', (r) => (r.spec.allow.logins = ['root', '{{internal.logins']), /\n {2}spec\.allow\.logins\[1\]: "{{internal\.logins" has {{ without a closing }}/],
    ['an unknown template namespace', (r) => (r.spec.deny.db_users = ['{{foo.bar}}']), /\n {2}spec\.deny\.db_users\[0\]: "{{foo\.bar}}" uses the unknown namespace "foo"/],
    ['a list written as a string', (r) => (r.spec.allow.logins = 'root'), /\n {2}spec\.allow\.logins: write a list, like \[ubuntu/],
    ['an empty selector', (r) => (r.spec.allow.node_labels = {}), /\n {2}spec\.allow\.node_labels: an empty selector matches nothing/],
    ['an odd label key', (r) => (r.spec.allow.kube_labels = { 'k8s.io/app': '^x' }), /\n {2}spec\.allow\.kube_labels\["k8s\.io\/app"\]: "\^x" starts with \^ but does not end with \$/],
    ['require_mfa not a boolean', (r) => (r.spec.options.require_mfa = 'yes'), /\n {2}spec\.options\.require_mfa: write true or false/],
    ['allow not a mapping', (r) => (r.spec.allow = ['x']), /\n {2}spec\.allow: write a mapping, like/],
  ];
  it.each(problems)('names the field and the fix for %s', (_, change, message) => {
    expect(errorOf(() => parseRole(exampleWith(change)))).toMatch(message);
  });

  it('reports every problem at once, after the source and role name, with where to read more', () => {
    const raw = exampleWith((r) => {
      r.kind = 'user';
      r.spec.allow.app_labels.team = '^(web';
      r.spec.allow.logns = [];
    });
    const message = errorOf(() => parseRole(raw, 'roles/dev.yaml'));
    expect(message).toMatch(/^roles\/dev\.yaml: role "dev-access" is invalid:\n/);
    expect(message.split('\n').filter((line) => line.startsWith('  '))).toHaveLength(3);
    expect(message).toMatch(/docs\/roles\.md describes every field\.$/);
  });

  it('says what a role is when given something else', () => {
    expect(errorOf(() => parseRole('dev-access'))).toMatch(/^the role is invalid:\n {2}\(top level\): write a mapping, like { kind: role/);
  });
});

describe('roleToYaml', () => {
  it('writes the duration back and parses to the same role', () => {
    const role = parseRole(exampleWith((r) => (r.spec.options = { max_session_ttl: '1h30m', require_mfa: true })));
    const yaml = roleToYaml(role);
    expect(yaml).toMatchObject({ spec: { options: { max_session_ttl: '90m', require_mfa: true } } });
    expect(parseRole(yaml)).toEqual(role);
    expect(Object.isFrozen(yaml.spec)).toBe(false);
  });
});

describe('built-in roles', () => {
  it('are editor, access and auditor, each a valid role', () => {
    expect(BUILTIN_ROLES.map((r) => r.metadata.name)).toEqual(['editor', 'access', 'auditor']);
    for (const role of BUILTIN_ROLES) expect(parseRole(roleToYaml(role))).toEqual(role);
  });

  it('grant what the design says', () => {
    const [editor, access, auditor] = BUILTIN_ROLES;
    expect(editor!.spec.allow).toEqual({ rules: [{ resources: ['*'], verbs: ['*'] }] });
    expect(access!.spec.allow.logins).toEqual(['{{internal.logins}}']);
    for (const field of ['node_labels', 'app_labels', 'db_labels', 'kube_labels', 'route_labels'] as const) {
      expect(access!.spec.allow[field]).toEqual({ '*': '*' });
    }
    expect(access!.spec.allow.rules).toBeUndefined();
    expect(auditor!.spec.allow).toEqual({ rules: [{ resources: ['audit', 'session'], verbs: ['list', 'read'] }] });
  });
});

// Roles sent as text (the console's editor, ctl create -f): problems name their lines.
const ROLE = `kind: role
version: v1
metadata:
  name: web-dev
spec:
  options:
    max_session_ttl: 8h
  allow:
    logins: [ubuntu, ""]
    app_labels:
      env: dev
    rules:
      - resources: [user]
        verbs: [lst]
  deny: {}
`;

describe('parseRoleYaml', () => {
  it('parses the documented example to the same role as parseRole', () => {
    expect(parseRoleYaml(DEV_ACCESS_YAML)).toEqual(parseRole(parse(DEV_ACCESS_YAML)));
  });

  it("puts the line of each problem before it, in the text's order, in the form the web console reads back", () => {
    const message = errorOf(() => parseRoleYaml(ROLE, 'the web editor'));
    expect(message).toMatch(/^the web editor: role "web-dev" is invalid:\n/);
    expect(lineProblems(message)).toEqual([
      { line: 9, text: 'spec.allow.logins[1]: an empty value grants nothing; remove it' },
      { line: 14, text: expect.stringMatching(/^spec\.allow\.rules\[0\]\.verbs\[0\]: "lst" is not a known verb \(did you mean list\?\)/) },
    ]);
  });

  it('finds an unknown field at its key, and a missing one at the mapping that lacks it', () => {
    const text = ROLE.replace('logins: [ubuntu, ""]', 'logns: [ubuntu]').replace('  name: web-dev\n', '  description: no name\n');
    expect(lineProblems(errorOf(() => parseRoleYaml(text)))).toEqual([
      { line: 3, text: 'metadata.name: missing; name the role, like name: dev-access' },
      { line: 9, text: 'spec.allow.logns: unknown field; did you mean logins?' },
      { line: 14, text: expect.stringContaining('"lst" is not a known verb') },
    ]);
  });

  it('names the line of a YAML syntax error', () => {
    const message = errorOf(() => parseRoleYaml('kind: role\nversion: v1\nmetadata: { name: x\n'));
    expect(message).toMatch(/^the role is not valid YAML:\n/);
    expect(lineProblems(message)).toEqual([{ line: 4, text: expect.stringMatching(/flow map/i) }]);
  });

  it('keeps the message without line numbers for a role given as a value', () => {
    const message = errorOf(() => parseRole(parse(ROLE)));
    expect(lineProblems(message)).toEqual([]);
    expect(message).toContain('\n  spec.allow.logins[1]: an empty value grants nothing; remove it\n');
  });
});
