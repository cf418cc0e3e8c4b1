import { PosternError } from '../errors/postern-error.js';
import { kindSpec, RESOURCE_TABLE, type AccessRequest, type ResourceKind, type RoleListField } from '../resources/table.js';
import { BoundedCache } from './bounded-cache.js';
import { compileSelector, formatLabels, type LabelMatcher } from './labels.js';
import { ADMIN_RESOURCES, ADMIN_VERBS, type Role, type RoleConditions, type Rule } from './role.js';
import { expandTemplates, type Subject } from './traits.js';

export type { Subject } from './traits.js';
export type { AccessRequest, ResourceKind } from '../resources/table.js';

/**
 * The decision engine: may this subject reach this resource, or do this admin action, and why
 * (docs/roles.md). A checker is built for one subject and its roles; it expands their templates
 * and compiles their selectors once, then answers from a bounded cache of decisions.
 */

export interface Resource {
  kind: ResourceKind;
  name: string;
  labels: Record<string, string>;
}

/**
 * Shared from the cache and frozen. `reasons` are sentences for people; there is always one.
 * `denied` says an explicit deny matched (a role's deny block, a policy's deny rule), as opposed
 * to nothing allowing: deny wins wherever decisions are combined.
 */
export interface Decision {
  allow: boolean;
  reasons: readonly string[];
  denied?: boolean;
}

/** A name the connection asks to use on the resource, and the role field that grants it. */
interface Principal {
  option: keyof AccessRequest;
  field: RoleListField;
  noun: string;
}

/** Per kind, the names a connection may ask to use (resources/table.ts). */
const PRINCIPALS = {} as Record<ResourceKind, readonly Principal[]>;
for (const row of RESOURCE_TABLE) PRINCIPALS[row.kind] = row.roleLists.flatMap((list): Principal[] => ('asked' in list ? [{ field: list.field, ...list.asked }] : []));
const LIST_FIELDS: readonly RoleListField[] = RESOURCE_TABLE.flatMap((row) => row.roleLists.map((list) => list.field));

/** One allow or deny block, ready for checks. */
interface CompiledBlock {
  selectors: Partial<Record<ResourceKind, LabelMatcher>>;
  /** Template-expanded for this subject. */
  principals: Record<RoleListField, ReadonlySet<string>>;
  /** Name lists the role writes, even when they expand to nothing for this subject. */
  written: ReadonlySet<RoleListField>;
  rules: readonly Rule[];
}

interface CompiledRole {
  name: string;
  allow: CompiledBlock;
  deny: CompiledBlock;
}

export interface CheckerOptions {
  /** Decisions kept per checker; the least recently used go first. */
  cacheSize?: number;
}

export class AccessChecker {
  private readonly roles: readonly CompiledRole[];
  /** Names in subject.roles with no role among those given: named in denials, never thrown. */
  private readonly missingRoles: readonly string[];
  private readonly username: string;
  private readonly ttl: number | undefined;
  private readonly mfa: readonly string[];
  private readonly decisions: BoundedCache<string, Decision>;

  /**
   * `roles` are the subject's roles, already resolved (built-in or from storage). Only the ones
   * named in `subject.roles` count, so passing every role of the cluster is safe.
   */
  constructor(subject: Subject, roles: readonly Role[], options: CheckerOptions = {}) {
    const byName = new Map<string, Role>();
    for (const role of roles) if (!byName.has(role.metadata.name)) byName.set(role.metadata.name, role);
    const names = [...new Set(subject.roles)];
    const own = names.flatMap((name) => byName.get(name) ?? []);
    this.roles = own.map((role) => ({
      name: role.metadata.name,
      allow: compileBlock(role.spec.allow, subject),
      deny: compileBlock(role.spec.deny, subject),
    }));
    this.missingRoles = names.filter((name) => !byName.has(name));
    this.username = subject.username;
    const ttls = own.flatMap((role) => role.spec.options.max_session_ttl ?? []);
    this.ttl = ttls.length > 0 ? Math.min(...ttls) : undefined;
    this.mfa = own.filter((role) => role.spec.options.require_mfa === true).map((role) => role.metadata.name);
    this.decisions = new BoundedCache(options.cacheSize ?? 10_000);
  }

  /** May the subject reach this resource (as `login` on a node, as `dbUser`/`dbName` on a db)? */
  checkResource(resource: Resource, request: AccessRequest = {}): Decision {
    // Labels in another order make another entry, never a wrong answer.
    const key = JSON.stringify([resource.kind, resource.name, resource.labels, request.login, request.dbUser, request.dbName]);
    return this.decisions.getOrCreate(key, () => this.decideResource(resource, request));
  }

  /** May the subject do `verb` on the admin resource `resource` (e.g. 'user', 'create')? */
  checkRule(resource: string, verb: string): Decision {
    return this.decisions.getOrCreate(JSON.stringify(['rule', resource, verb]), () => this.decideRule(resource, verb));
  }

  /**
   * Logins the subject may use on `node`, or without one, on any node some role allows. For the
   * second, a login denied on some nodes only is kept: it still works elsewhere.
   */
  allowedLogins(node?: Resource): string[] {
    if (node && node.kind !== 'node') throw new PosternError('INTERNAL', `allowedLogins needs a node, not ${node.kind} "${node.name}"`);
    if (node) return this.allowedNames(node, 'logins');
    const candidates = new Set(this.roles.filter((role) => role.allow.selectors.node).flatMap((role) => [...role.allow.principals.logins]));
    return [...candidates].filter((login) => !this.roles.some((role) => deniesOnEveryNode(role.deny, login)));
  }

  /**
   * The names of one of the resource's role lists the subject may use on it (`logins` on a node,
   * `db_users` or `db_names` on a database), each decided as a connection asking for it would be.
   */
  allowedNames(resource: Resource, field: RoleListField): string[] {
    const principal = PRINCIPALS[resource.kind].find((p) => p.field === field);
    if (!principal) throw new PosternError('INTERNAL', `${resource.kind} resources have no ${field}`);
    const granting = this.roles.filter((role) => role.allow.selectors[resource.kind]?.matches(resource.labels));
    const candidates = new Set(granting.flatMap((role) => [...role.allow.principals[field]]));
    return [...candidates].filter((name) => this.checkResource(resource, { [principal.option]: name }).allow);
  }

  /** The smallest max_session_ttl (ms) of the subject's roles, or undefined if none sets one. */
  maxSessionTtl(): number | undefined {
    return this.ttl;
  }

  /** The subject's roles that ask for a second factor on every session (require_mfa). */
  mfaRoles(): readonly string[] {
    return this.mfa;
  }

  private decideResource(resource: Resource, request: AccessRequest): Decision {
    const asked = PRINCIPALS[resource.kind].filter((p) => request[p.option] !== undefined);
    const target = `${resource.kind} "${resource.name}"${asked.length > 0 ? ` as ${asked.map((p) => `${p.noun} "${request[p.option]}"`).join(' and ')}` : ''}`;
    const field = kindSpec(resource.kind).labelField;
    const labels = resource.labels;

    const denials = this.roles.flatMap((role) => {
      const why = denialOf(role.deny, resource, request);
      return why ? [`role ${role.name} denies ${target}: ${why}`] : [];
    });
    if (denials.length > 0) return decision(false, denials, true);

    const grants: string[] = [];
    const misses: string[] = [];
    const without: string[] = [];
    for (const role of this.roles) {
      const selector = role.allow.selectors[resource.kind];
      if (!selector) {
        without.push(role.name);
        continue;
      }
      if (!selector.matches(labels)) {
        misses.push(`role ${role.name} ${selector.explainMismatch(labels)}`);
        continue;
      }
      // The login (or db user/name) must come from the same role whose selector matched.
      const lacking = asked.find((p) => !role.allow.principals[p.field].has(request[p.option]!));
      if (lacking) {
        const its = [...role.allow.principals[lacking.field]].join(', ') || 'none';
        misses.push(`role ${role.name} allows ${resource.kind} "${resource.name}" but not ${lacking.noun} "${request[lacking.option]}" (its ${lacking.field}: ${its})`);
        continue;
      }
      grants.push(`role ${role.name} allows ${target}: ${field} ${selector.explainMatch(labels)}`);
    }
    if (grants.length > 0) return decision(true, grants);
    return decision(false, [`no role allows ${target} (${formatLabels(labels)}): ${this.explainMisses(misses, without, field)}`]);
  }

  private decideRule(resource: string, verb: string): Decision {
    if (!(ADMIN_RESOURCES as readonly string[]).includes(resource) || !(ADMIN_VERBS as readonly string[]).includes(verb)) {
      return decision(false, [`"${verb}" on "${resource}" is not an admin action (resources: ${ADMIN_RESOURCES.join(', ')}; verbs: ${ADMIN_VERBS.join(', ')})`]);
    }
    const action = `${verb} on ${resource}`;
    const covering = (block: CompiledBlock) => block.rules.filter((r) => covers(r.resources, resource) && covers(r.verbs, verb));
    const denials = this.roles.flatMap((role) => covering(role.deny).map((r) => `role ${role.name} denies ${action}: deny rule ${describeRule(r)}`));
    if (denials.length > 0) return decision(false, denials, true);
    const grants = this.roles.flatMap((role) => covering(role.allow).map((r) => `role ${role.name} allows ${action}: rule ${describeRule(r)}`));
    if (grants.length > 0) return decision(true, grants);
    const misses = this.roles.filter((role) => role.allow.rules.length > 0).map((role) => `role ${role.name} allows only ${role.allow.rules.map(describeRule).join('; ')}`);
    const without = this.roles.filter((role) => role.allow.rules.length === 0).map((role) => role.name);
    return decision(false, [`no role allows ${action}: ${this.explainMisses(misses, without, 'rules')}`]);
  }

  /**
   * Why no role allowed: what each role that came close needs first, then (in one phrase, as they
   * are the least telling) the roles without the field at all, then roles that do not exist.
   */
  private explainMisses(misses: string[], without: string[], field: string): string {
    const all = [...misses];
    if (without.length === 1) all.push(`role ${without[0]} has no ${field}`);
    if (without.length > 1) all.push(`roles ${without.join(', ')} have no ${field}`);
    for (const name of this.missingRoles) all.push(`role ${name} does not exist`);
    return all.length > 0 ? all.join('; ') : `${this.username} has no roles`;
  }
}

/** Returns the same checker for the same roles and subject, so callers need not build one per request. */
export class CheckerCache {
  private readonly checkers: BoundedCache<string, AccessChecker>;
  private readonly roleIds = new WeakMap<Role, number>();
  private nextRoleId = 0;

  constructor(private readonly options: CheckerOptions & { maxCheckers?: number } = {}) {
    this.checkers = new BoundedCache(options.maxCheckers ?? 256);
  }

  /**
   * Roles count by object identity: parsed roles are frozen, so an edited role is a new object and
   * gets a new checker. An old checker is never wrong, only unused; clear() frees them.
   */
  get(subject: Subject, roles: readonly Role[]): AccessChecker {
    const key = JSON.stringify([roles.map((role) => this.idOf(role)), subject.username, subject.roles, subject.traits]);
    return this.checkers.getOrCreate(key, () => new AccessChecker(subject, roles, this.options));
  }

  clear(): void {
    this.checkers.clear();
  }

  private idOf(role: Role): number {
    let id = this.roleIds.get(role);
    if (id === undefined) this.roleIds.set(role, (id = this.nextRoleId++));
    return id;
  }
}

function compileBlock(conditions: RoleConditions, subject: Subject): CompiledBlock {
  const selectors: Partial<Record<ResourceKind, LabelMatcher>> = {};
  for (const row of RESOURCE_TABLE) {
    const selector = conditions[row.labelField];
    if (selector) selectors[row.kind] = compileSelector(selector);
  }
  const principals = {} as Record<RoleListField, ReadonlySet<string>>;
  for (const field of LIST_FIELDS) principals[field] = new Set(expandTemplates(conditions[field] ?? [], subject));
  return {
    selectors,
    principals,
    written: new Set(LIST_FIELDS.filter((field) => conditions[field] !== undefined)),
    rules: conditions.rules ?? [],
  };
}

/**
 * Why this deny block refuses the request, if it does. A block that writes logins (or db users or
 * names) refuses only those, on the resources its selector matches or, without a selector, on
 * every resource of the kind; a block without them refuses the matched resources outright.
 */
function denialOf(block: CompiledBlock, resource: Resource, request: AccessRequest): string | undefined {
  const selector = block.selectors[resource.kind];
  if (selector && !selector.matches(resource.labels)) return undefined;
  const matched = selector && `deny ${resource.kind}_labels ${selector.explainMatch(resource.labels)}`;
  const scoped = PRINCIPALS[resource.kind].filter((p) => block.written.has(p.field));
  if (scoped.length === 0) return matched;
  const hit = scoped.find((p) => request[p.option] !== undefined && block.principals[p.field].has(request[p.option]!));
  if (!hit) return undefined;
  const listed = `deny ${hit.field} include ${request[hit.option]}`;
  return matched ? `${matched} and ${listed}` : `${listed} (on every ${resource.kind})`;
}

/** Whether this deny block refuses `login` on every node, whatever its labels. */
function deniesOnEveryNode(block: CompiledBlock, login: string): boolean {
  const selector = block.selectors.node;
  if (!block.written.has('logins')) return selector?.matchesEverything ?? false;
  return (!selector || selector.matchesEverything) && block.principals.logins.has(login);
}

function covers(listed: readonly string[], name: string): boolean {
  return listed.includes(name) || listed.includes('*');
}

function describeRule(rule: Rule): string {
  return `verbs [${rule.verbs.join(', ')}] on [${rule.resources.join(', ')}]`;
}

function decision(allow: boolean, reasons: string[], denied = false): Decision {
  Object.freeze(reasons); // shared from the cache: one caller must not edit another's answer
  return Object.freeze(denied ? { allow, reasons, denied } : { allow, reasons });
}
