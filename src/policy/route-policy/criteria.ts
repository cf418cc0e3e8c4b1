import { accept } from './accept.js';
import { authenticatedUser } from './authenticated-user.js';
import { claim } from './claim.js';
import type { Criterion } from './criterion.js';
import { domain } from './domain.js';
import { email } from './email.js';
import { groups } from './groups.js';
import { reject } from './reject.js';
import { sourceIp } from './source-ip.js';
import { user } from './user.js';

/** The one table of criteria: the parser looks names up here, and lists them in errors. */
export const CRITERION_TABLE: readonly Criterion[] = Object.freeze([authenticatedUser, accept, reject, user, email, domain, groups, claim, sourceIp]);

/** The criteria as written in a policy: `email`, `claim/<name>`… */
export const CRITERIA: readonly string[] = Object.freeze(CRITERION_TABLE.map((c) => (c.takesName ? `${c.name}/<name>` : c.name)));

const BY_NAME = new Map(CRITERION_TABLE.map((c) => [c.name, c]));

export function findCriterion(name: string): Criterion | undefined {
  return BY_NAME.get(name);
}

/** Names for "did you mean": the plain names (`claim`, not `claim/<name>`). */
export const CRITERION_NAMES: readonly string[] = Object.freeze(CRITERION_TABLE.map((c) => c.name));
