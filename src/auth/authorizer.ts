import { CheckerCache, type AccessChecker } from '../policy/access-checker.js';
import type { Subject } from '../policy/traits.js';
import type { RoleCache } from './roles.js';

/**
 * Access checkers for protocol handlers, without touching storage: roles come from the server's
 * live copy, checkers (and their decision caches) are reused per subject, and every cached
 * decision is dropped the moment a role changes.
 */
export class Authorizer {
  private readonly checkers = new CheckerCache();

  constructor(private readonly roles: RoleCache) {
    roles.onChange(() => this.checkers.clear());
  }

  checker(subject: Subject): AccessChecker {
    return this.checkers.get(subject, this.roles.resolve(subject.roles));
  }
}
