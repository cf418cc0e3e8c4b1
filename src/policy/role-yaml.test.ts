import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { isPosternError } from '../errors/postern-error.js';
import { lineProblems } from '../wire/role-problems.js';
import { DEV_ACCESS_YAML } from '../../test/helpers/example-role.js';
import { parseRole, parseRoleYaml } from './role.js';

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isPosternError(err, 'CONFIG_INVALID')) return err.message;
    throw err;
  }
  throw new Error('expected an error');
}

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
