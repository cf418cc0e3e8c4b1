import { describe, expect, it } from 'vitest';
import { errorReason } from '../../src/wire/tunnel.js';
import { TARGETS } from './targets.js';

/**
 * Inputs that once broke a fuzz target, exactly as `npm run fuzz` printed them, each run through
 * that target's check again (and the fix stated as plainly as it can be).
 */
function check(name: string, input: unknown): void {
  TARGETS.find((t) => t.name === name)!.check(input);
}

describe('fuzz regressions', () => {
  it("tunnel-headers: an agent's refusal whose postern-error does not URI-decode is read as sent (a URIError there ended the proxy)", () => {
    expect(errorReason('%')).toBe('%');
    expect(errorReason('no%20route%zz')).toBe('no%20route%zz');
    check('tunnel-headers', { kind: 'app', name: 'grafana', error: '%E0%A4%A' });
  });

  it('config-yaml: an alias to no anchor, or a YAML 1.1 merge of a non-mapping, is CONFIG_INVALID (was a ReferenceError or Error)', () => {
    check('config-yaml', 'proxy: *b\n');
    check('config-yaml', '%YAML 1.1\n---\n<<: 5\n');
  });

  it('ctl-documents: the same YAML mistakes in a ctl create -f file are CONFIG_INVALID (was a ReferenceError)', () => {
    check('ctl-documents', ': *a');
    check('ctl-documents', 'kind: *a\nversion: v1\nmetadata: {}\nspec: { roles: [app, ssh], ttl: 30m }\n');
  });

  it('cookies: a bad % escape is BAD_REQUEST (was a URIError)', () => {
    check('cookies', { header: '__Host-postern_session=%', name: '__Host-postern_session' });
  });
});
