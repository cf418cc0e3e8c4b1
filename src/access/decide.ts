import type { ErrorCode } from '../errors/codes.js';
import type { AccessChecker, Decision } from '../policy/access-checker.js';
import { evaluateRoutePolicy, signingInCouldAllow, type RoutePolicy } from '../policy/route-policy/index.js';
import type { Subject } from '../policy/traits.js';
import { kindSpec, type AccessRequest, type ResourceKind } from '../resources/table.js';

/** What a connection is for: a resource of the table, with its labels (and a route's inline policy). */
export interface AccessTarget {
  kind: ResourceKind;
  name: string;
  labels: Record<string, string>;
  /** A route's inline policy: it allows, and both it and roles may deny. */
  policy?: RoutePolicy;
}

/** One decision with its reasons; a refusal carries the error code the client is answered with. */
export interface AccessDecision {
  allow: boolean;
  reasons: readonly string[];
  /** Why not, for the client: ACCESS_DENIED, UNAUTHENTICATED (signing in could help), MFA_REQUIRED, LOCKED, CERT_EXPIRED. */
  code?: ErrorCode;
}

export interface DecisionInput {
  /** The subject as it stands now (Standings), or none for a request without identity. */
  subject?: Subject;
  /** The checker for the subject's roles. */
  checker?: AccessChecker;
  target: AccessTarget;
  request?: AccessRequest;
  /** The client's address, which policies may test. */
  sourceIp: string;
}

/**
 * The one decision (docs/roles.md, "How access is decided"): role rules and a route's inline
 * policy together, deny first across both:
 * 1. any explicit deny refuses: a role's deny block, or a policy's deny rule;
 * 2. then what allows: the inline policy when the target has one (roles can only deny there),
 *    else the roles' allow blocks;
 * 3. then require_mfa on any of the subject's roles refuses, since this version cannot ask for a
 *    second factor per session.
 * Without identity, only a policy can allow; a refusal says whether signing in could help.
 */
export function decide(input: DecisionInput): AccessDecision {
  const { subject, checker, target, request = {}, sourceIp } = input;
  const byRoles = subject && checker ? checker.checkResource(target, request) : undefined;
  const byPolicy = target.policy ? evaluateRoutePolicy(target.policy, { ...(subject ? { user: subject } : {}), sourceIp }) : undefined;
  const denials = [...denialsOf(byRoles), ...denialsOf(byPolicy)];
  if (denials.length > 0) return refuse('ACCESS_DENIED', denials);
  const grant = byPolicy ?? byRoles;
  if (!grant) {
    const { noun } = kindSpec(target.kind);
    return refuse('UNAUTHENTICATED', [`${noun} ${target.name} is decided by roles, and the request carries no identity`]);
  }
  if (!grant.allow) return refuse(!subject && couldSignIn(target.policy, sourceIp) ? 'UNAUTHENTICATED' : 'ACCESS_DENIED', grant.reasons);
  const mfa = checker?.mfaRoles() ?? [];
  if (mfa.length > 0) return refuse('MFA_REQUIRED', [mfaReason(mfa)]);
  return { allow: true, reasons: grant.reasons };
}

function denialsOf(decision: Decision | undefined): readonly string[] {
  return decision?.denied ? decision.reasons : [];
}

/** Whether a request without identity could get through by signing in: not where its address (or a reject) rules it out for everyone. */
function couldSignIn(policy: RoutePolicy | undefined, sourceIp: string): boolean {
  return !policy || signingInCouldAllow(policy, { sourceIp });
}

function mfaReason(roles: readonly string[]): string {
  const named = roles.length === 1 ? `role ${roles[0]} requires` : `roles ${roles.join(', ')} require`;
  return `${named} a second factor for every session (require_mfa: true), which this version of Postern cannot ask for yet; an administrator can remove require_mfa from ${roles.length === 1 ? 'that role' : 'those roles'} to allow access meanwhile`;
}

function refuse(code: ErrorCode, reasons: readonly string[]): AccessDecision {
  return { allow: false, reasons, code };
}
