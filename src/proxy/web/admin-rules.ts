import type { Permit } from '../../admin/ops.js';
import type { AuthService } from '../../auth/auth-service.js';
import { PosternError } from '../../errors/postern-error.js';
import type { AccessChecker } from '../../policy/access-checker.js';

/**
 * The gate for web calls that need admin rules (admin ops, the console's pages): what the
 * caller's roles allow passes; the rest is refused with the reasons and audited as
 * `access.denied` (kind admin), the same way wherever it is asked.
 */
export function ruleGate(auth: AuthService, checker: AccessChecker, caller: { username: string; clientAddr: string }): Permit {
  return async (resource, verb) => {
    const decision = checker.checkRule(resource, verb);
    if (decision.allow) return;
    await auth.emit({ event: 'access.denied', user: caller.username, remote_addr: caller.clientAddr, kind: 'admin', resource: `${resource}:${verb}`, reasons: decision.reasons });
    throw new PosternError('ACCESS_DENIED', `${caller.username} may not ${verb} ${resource}s: ${decision.reasons.join('; ')}`);
  };
}
