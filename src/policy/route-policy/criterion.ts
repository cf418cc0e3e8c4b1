/**
 * What every criterion of the route policy language shares (docs/policy-language.md): the input a
 * policy is evaluated against, the compiled form of a criterion or operator (a Condition), and the
 * shape of a criterion's entry in the table of criteria.
 */

/** The user behind a request, as the identity layer hands it over. */
export interface PolicyUser {
  username: string;
  roles: string[];
  traits: Record<string, string[]>;
}

/** What a policy is evaluated against, once per connection. */
export interface PolicyInput {
  /** Undefined when the request carries no identity. */
  user?: PolicyUser;
  /** The client address (from PROXY protocol when present). */
  sourceIp: string;
}

/**
 * A criterion or an operator, compiled. `test` runs for every connection and must stay cheap (no
 * allocation beyond what reading the input needs); the three phrases are built only for the rules
 * that decided, to make the reasons.
 *
 * `nested` is true when the phrase goes inside another operator's phrase: an operator that joins
 * several parts then wraps them in parentheses, so `a or (b and c)` keeps its meaning.
 */
export interface Condition {
  test(input: PolicyInput): boolean;
  /** For a condition that holds, why: `email ends with "@example.com" (alice@example.com)`. */
  held(input: PolicyInput, nested: boolean): string;
  /** For a condition that does not hold, what it needs; read after "needs": `email ending with "@example.com" (alice has alice@other.org)`. */
  missed(input: PolicyInput, nested: boolean): string;
  /** What it asks and what the input had, whatever the outcome; read after "not". */
  asked(input: PolicyInput, nested: boolean): string;
  /**
   * `test` for a request with no identity, in three values: undefined when signing in could
   * still make it hold or not (it reads the identity), else whether it holds anyway.
   */
  withoutIdentity(input: PolicyInput): boolean | undefined;
}

/** What a criterion compiles to; the parser adds withoutIdentity from the criterion's readsIdentity. */
export type CriterionCondition = Omit<Condition, 'withoutIdentity'>;

/** One entry of the criteria table (criteria.ts). */
export interface Criterion {
  /** The key in the policy: `email`; for a criterion that takes a name, the part before the slash (`claim`). */
  readonly name: string;
  /** True when the key carries a name after a slash: `claim/team`. */
  readonly takesName: boolean;
  /** True when it reads the identity (so signing in could change it), false for request facts (`source_ip`). */
  readonly readsIdentity: boolean;
  /** A value that works, shown in error messages: `{ ends_with: "@example.com" }`. */
  readonly example: string;
  /**
   * Checks the criterion's value and compiles it. `path` names the criterion in errors
   * (`proxy.routes[0].policy[1].allow.and[0].email`); `name` is the part after the slash, for a
   * criterion that takes one. Throws PolicyProblem for a value it cannot use.
   */
  compile(value: unknown, path: string, name: string | undefined): CriterionCondition;
}

/** A problem in a policy, at a path; collected by the parser and thrown as one CONFIG_INVALID error. */
export class PolicyProblem extends Error {
  override readonly name = 'PolicyProblem';
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/** What an identity-based criterion sees when the request carries no identity. */
export const NO_IDENTITY = 'the request carries no identity';

/** Values quoted as in YAML/JSON, so a reason shows exactly what was compared. */
export function quote(value: string): string {
  return JSON.stringify(value);
}

/** Up to five values of a trait, for a reason: `dev, ops, sre and 12 more`. */
export function listValues(values: readonly string[]): string {
  const shown = values.slice(0, 5).join(', ');
  return values.length > 5 ? `${shown} and ${values.length - 5} more` : shown;
}

/** A trait's values, or undefined when the user lacks it (a prototype key such as `constructor` is no trait). */
export function traitOf(user: PolicyUser, name: string): readonly string[] | undefined {
  if (!Object.hasOwn(user.traits, name)) return undefined;
  const values = user.traits[name];
  return Array.isArray(values) && values.length > 0 ? values : undefined;
}

/** The first value of the user's `email` trait, if it has a non-empty one. */
export function emailOf(user: PolicyUser | undefined): string | undefined {
  const email = user && traitOf(user, 'email')?.[0];
  return email === '' ? undefined : email;
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `path.key`, or `path["odd key"]` for a key that would not read as one segment. */
export function childPath(path: string, key: string): string {
  return /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_.:-]+)?$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** For flag-like criteria (`accept: true`): anything but `true` is refused, so `false` never reads as "the opposite". */
export function expectTrue(value: unknown, path: string, name: string): void {
  if (value === true) return;
  const written = value === null || value === undefined ? 'nothing' : JSON.stringify(value);
  const opposite = value === false ? `; for the opposite, write not: [{ ${name}: true }]` : '';
  throw new PolicyProblem(path, `write ${name}: true (found ${written})${opposite}`);
}

/** A Condition for a criterion, whose missed phrase is its asked phrase. */
export function criterionCondition(
  test: (input: PolicyInput) => boolean,
  held: (input: PolicyInput) => string,
  asked: (input: PolicyInput) => string,
): CriterionCondition {
  return { test, held, missed: asked, asked };
}
