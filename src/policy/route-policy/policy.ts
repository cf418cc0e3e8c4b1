import { didYouMean } from '../../errors/did-you-mean.js';
import { PosternError } from '../../errors/postern-error.js';
import type { Decision } from '../access-checker.js';
import { CRITERIA, CRITERION_NAMES, findCriterion } from './criteria.js';
import { childPath, isMapping, PolicyProblem, quote, type Condition, type PolicyInput } from './criterion.js';
import { combine, OPERATORS, type Operator } from './operators.js';

/**
 * The inline route policy (docs/policy-language.md): parsed and compiled once from the route's
 * `policy` list, then evaluated per connection into a Decision with reasons.
 */

const RULES: unique symbol = Symbol('route policy rules');

interface CompiledRule {
  /** 1-based position in the policy: how reasons name the rule. */
  number: number;
  allow?: Condition;
  deny?: Condition;
}

/** A compiled policy; opaque, frozen, safe to share between connections. */
export interface RoutePolicy {
  readonly [RULES]: readonly CompiledRule[];
}

/** A problem in a policy: `path` names the field (`proxy.routes[0].policy[1].allow.and[0].email`). */
export interface RoutePolicyProblem {
  path: string;
  message: string;
}

const ACTIONS = ['allow', 'deny'] as const;
const RULE_EXAMPLE = '{ allow: { and: [{ authenticated_user: true }] } }';
const BLOCK_EXAMPLE = '{ and: [{ authenticated_user: true }] }';

/**
 * Parses and compiles a route's policy from parsed YAML. Throws PosternError('CONFIG_INVALID') with
 * one line per problem, each `path: what is wrong; what to write`.
 */
export function parseRoutePolicy(value: unknown, path: string): RoutePolicy {
  const problems: RoutePolicyProblem[] = [];
  const policy = compilePolicy(value, path, problems);
  if (problems.length > 0) throw new PosternError('CONFIG_INVALID', problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return policy;
}

/** Every problem in a policy, for callers that report config problems together; empty when it is valid. */
export function routePolicyProblems(value: unknown, path: string): RoutePolicyProblem[] {
  const problems: RoutePolicyProblem[] = [];
  compilePolicy(value, path, problems);
  return problems;
}

/**
 * Deny wins: any matching deny block refuses. Otherwise any matching allow block allows. Otherwise
 * (or with no rules at all) the connection is refused. One reason per rule that decided.
 */
export function evaluateRoutePolicy(policy: RoutePolicy, input: PolicyInput): Decision {
  const rules = policy[RULES];
  let denials: string[] | undefined;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (rule.deny?.test(input)) (denials ??= []).push(`deny rule ${rule.number} matched: ${rule.deny.held(input, false)}`);
  }
  if (denials) return decision(false, denials, true);
  let grants: string[] | undefined;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (rule.allow?.test(input)) (grants ??= []).push(`allow rule ${rule.number} matched: ${rule.allow.held(input, false)}`);
  }
  if (grants) return decision(true, grants);
  if (rules.length === 0) return decision(false, ['the route policy has no rules, so it allows no one']);
  const misses = rules.flatMap((rule) => (rule.allow ? [`rule ${rule.number} needs ${rule.allow.missed(input, false)}`] : []));
  return decision(false, [`no allow rule matched: ${misses.length > 0 ? misses.join('; ') : 'the policy has only deny rules'}`]);
}

/**
 * Whether signing in could get a request that carries no identity through: no deny rule refuses it
 * whatever the identity, and some allow rule could match once there is one. When not (a source_ip
 * rule that the client's address fails, say), the answer is 403, not an invitation to sign in.
 */
export function signingInCouldAllow(policy: RoutePolicy, input: PolicyInput): boolean {
  const anonymous = { sourceIp: input.sourceIp };
  const rules = policy[RULES];
  if (rules.some((rule) => rule.deny?.withoutIdentity(anonymous) === true)) return false;
  return rules.some((rule) => rule.allow !== undefined && rule.allow.withoutIdentity(anonymous) !== false);
}

function decision(allow: boolean, reasons: string[], denied = false): Decision {
  Object.freeze(reasons);
  return Object.freeze(denied ? { allow, reasons, denied } : { allow, reasons });
}

function compilePolicy(value: unknown, path: string, problems: RoutePolicyProblem[]): RoutePolicy {
  const rules: CompiledRule[] = [];
  if (!Array.isArray(value)) {
    problems.push({ path, message: `write a list of rules, like [${RULE_EXAMPLE}]${isMapping(value) ? ' (found a single rule: put a - before it)' : ''}` });
  } else {
    value.forEach((item, i) => {
      const rule = compileRule(item, `${path}[${i}]`, problems);
      if (rule) rules.push({ number: i + 1, ...rule });
    });
  }
  return Object.freeze({ [RULES]: Object.freeze(rules) });
}

function compileRule(value: unknown, path: string, problems: RoutePolicyProblem[]): Omit<CompiledRule, 'number'> | undefined {
  if (!isMapping(value)) {
    problems.push({ path, message: `write a rule with allow and/or deny, like ${RULE_EXAMPLE}` });
    return undefined;
  }
  const keys = Object.keys(value);
  let ok = true;
  for (const key of keys) {
    if ((ACTIONS as readonly string[]).includes(key)) continue;
    problems.push({ path, message: unknown('field', key, ACTIONS, 'a rule takes allow and deny') });
    ok = false;
  }
  if (keys.length === 0) {
    problems.push({ path, message: `empty; a rule needs allow or deny (or both), like ${RULE_EXAMPLE}` });
    return undefined;
  }
  const rule: Omit<CompiledRule, 'number'> = {};
  for (const action of ACTIONS) {
    if (!(action in value)) continue;
    const block = compileBlock(value[action], childPath(path, action), problems);
    if (block) rule[action] = block;
    else ok = false;
  }
  return ok ? rule : undefined;
}

/** `{ and: [...] }`: exactly one operator with its list. */
function compileBlock(value: unknown, path: string, problems: RoutePolicyProblem[]): Condition | undefined {
  if (!isMapping(value)) {
    problems.push({ path, message: `write one operator (${OPERATORS.join(', ')}) with a list of criteria, like ${BLOCK_EXAMPLE}` });
    return undefined;
  }
  const keys = Object.keys(value);
  const bad = keys.filter((key) => !(OPERATORS as readonly string[]).includes(key));
  for (const key of bad) problems.push({ path, message: unknown('operator', key, OPERATORS, `the operators are ${OPERATORS.join(', ')}`) });
  if (bad.length > 0) return undefined;
  if (keys.length !== 1) {
    problems.push({
      path,
      message:
        keys.length === 0
          ? `empty; write one operator (${OPERATORS.join(', ')}) with a list of criteria, like ${BLOCK_EXAMPLE}`
          : `has ${keys.length} operators (${keys.join(', ')}); write one per block: use a rule for each, or nest them, like and: [{ or: [...] }, ...]`,
    });
    return undefined;
  }
  const op = keys[0] as Operator;
  return compileOperator(op, value[op], childPath(path, op), problems);
}

function compileOperator(op: Operator, value: unknown, path: string, problems: RoutePolicyProblem[]): Condition | undefined {
  if (!Array.isArray(value)) {
    const hint = isMapping(value) ? ' (found a mapping: put a - before each criterion)' : '';
    problems.push({ path, message: `write a list of criteria, like ${op}: [{ authenticated_user: true }, { email: { ends_with: "@example.com" } }]${hint}` });
    return undefined;
  }
  const items = value.map((item, i) => compileItem(item, `${path}[${i}]`, problems));
  return items.every((c) => c !== undefined) ? combine(op, items as Condition[]) : undefined;
}

/** A list item: a criterion (`email: …`), or a nested operator (`or: [...]`); exactly one key. */
function compileItem(value: unknown, path: string, problems: RoutePolicyProblem[]): Condition | undefined {
  if (!isMapping(value)) {
    const bare = typeof value === 'string' ? findCriterion(value) : undefined;
    const message = bare
      ? `${quote(value as string)} lacks its value; write ${bare.name}: ${bare.example}`
      : 'write a criterion as a mapping with one key, like { authenticated_user: true }';
    problems.push({ path, message });
    return undefined;
  }
  const keys = Object.keys(value);
  if (keys.length !== 1) {
    problems.push({
      path,
      message:
        keys.length === 0
          ? 'empty; write one criterion, like { authenticated_user: true }'
          : `a criterion has exactly one key, not ${keys.length} (${keys.join(', ')}); put each in its own list item`,
    });
    return undefined;
  }
  const key = keys[0]!;
  const at = childPath(path, key);
  if ((OPERATORS as readonly string[]).includes(key)) return compileOperator(key as Operator, value[key], at, problems);
  const slash = key.indexOf('/');
  const base = slash === -1 ? key : key.slice(0, slash);
  const name = slash === -1 ? undefined : key.slice(slash + 1);
  const criterion = findCriterion(base);
  if (!criterion) {
    const hint = didYouMean(base, [...CRITERION_NAMES, ...OPERATORS]);
    const suggestion = hint && findCriterion(hint)?.takesName ? `${hint}/${name ?? '<name>'}` : hint;
    const list = `the criteria are ${CRITERIA.join(', ')}; the operators ${OPERATORS.join(', ')}`;
    problems.push({ path, message: `unknown criterion ${quote(key)}; ${suggestion ? `did you mean ${suggestion}?` : list}` });
    return undefined;
  }
  if (!criterion.takesName && name !== undefined) {
    problems.push({ path, message: `${base} takes no name after a slash; write ${base}: ${criterion.example}` });
    return undefined;
  }
  try {
    const condition = criterion.compile(value[key], at, name);
    return { ...condition, withoutIdentity: criterion.readsIdentity ? () => undefined : (input) => condition.test(input) };
  } catch (err) {
    if (!(err instanceof PolicyProblem)) throw err;
    problems.push({ path: err.path, message: err.message });
    return undefined;
  }
}

function unknown(noun: string, key: string, known: readonly string[], otherwise: string): string {
  const hint = didYouMean(key, known);
  return `unknown ${noun} ${quote(key)}; ${hint ? `did you mean ${hint}?` : otherwise}`;
}
