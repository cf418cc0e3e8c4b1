import { didYouMean } from '../../errors/did-you-mean.js';
import { criterionCondition, isMapping, PolicyProblem, quote, type CriterionCondition, type PolicyInput } from './criterion.js';

/**
 * Matchers: how a criterion compares a value. A string matcher (`user`, `email`, `domain`) is a
 * plain string (the same as `is`) or a mapping with one of `is`, `starts_with`, `ends_with`,
 * `contains`, `in`. A list matcher (`groups`) is a plain string or `{ has: x }`. `claim/<name>`
 * takes either kind.
 */

export const STRING_MATCHERS = ['is', 'starts_with', 'ends_with', 'contains', 'in'] as const;
export const LIST_MATCHERS = ['has'] as const;
export type MatcherName = (typeof STRING_MATCHERS)[number] | (typeof LIST_MATCHERS)[number];

/** A compiled matcher over one string. */
export interface StringMatcher {
  readonly op: MatcherName;
  test(value: string): boolean;
  /** As a statement after the field: `ends with "@example.com"`, `is "alice"`, `has "sre"`. */
  readonly holds: string;
  /** As a requirement after the field: `ending with "@example.com"`, `"alice"`, `with "sre"`. */
  readonly wants: string;
  /** Whether a statement should show the value it matched (not for `is`/`has`, whose statement says it). */
  readonly showsValue: boolean;
}

export interface MatcherOptions {
  /** The matchers this criterion takes. */
  ops: readonly MatcherName[];
  /** What a plain string means: `is` for strings, `has` for lists. */
  plain: MatcherName;
  /** Compare without regard to case (emails and domains). */
  ignoreCase?: boolean;
  /** A value that works, for error messages. */
  example: string;
}

/** Checks and compiles a matcher; throws PolicyProblem naming `path` (the criterion) or `path.<matcher>`. */
export function compileMatcher(value: unknown, path: string, options: MatcherOptions): StringMatcher {
  const { ops, example } = options;
  const shape = `a string, or a mapping with one matcher (${ops.join(', ')}), like ${example}`;
  if (typeof value === 'string') return build(options.plain, checkString(value, path), options);
  if (!isMapping(value)) {
    const several = Array.isArray(value) ? '; to match any of several values, write one criterion for each under or' : '';
    throw new PolicyProblem(path, `write ${shape}${scalarHint(value)}${several}`);
  }
  const keys = Object.keys(value);
  if (keys.length === 0) throw new PolicyProblem(path, `empty; write ${shape}`);
  for (const key of keys) {
    if ((ops as readonly string[]).includes(key)) continue;
    // A matcher of the other kind (`has` on a string) is no typo: say so rather than guess.
    const elsewhere = (STRING_MATCHERS as readonly string[]).concat(LIST_MATCHERS).includes(key);
    const hint = elsewhere ? undefined : didYouMean(key, ops);
    const note = elsewhere ? ` (${key} is not for this criterion)` : '';
    throw new PolicyProblem(path, `unknown matcher ${quote(key)}${note}; ${hint ? `did you mean ${hint}?` : `use one of ${ops.join(', ')}`}`);
  }
  if (keys.length > 1) {
    throw new PolicyProblem(path, `has ${keys.length} matchers (${keys.join(', ')}); write one per criterion, and put each in its own criterion under and`);
  }
  const op = keys[0] as MatcherName;
  const argPath = `${path}.${op}`;
  const arg = value[op];
  if (op === 'in') {
    if (!Array.isArray(arg) || arg.length === 0) throw new PolicyProblem(argPath, `write a list of at least one value, like in: [alice, bob]${scalarHint(arg)}`);
    return build(op, arg.map((item, i) => checkString(item, `${argPath}[${i}]`)), options);
  }
  return build(op, checkString(arg, argPath), options);
}

function checkString(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new PolicyProblem(path, `write a string${scalarHint(value)}`);
  if (value === '') throw new PolicyProblem(path, 'an empty string; write the value to compare with');
  return value;
}

/** Numbers and booleans are refused rather than turned into text: YAML reads 010 as 10 and yes as a string. */
function scalarHint(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean') return `; to compare with the text ${value}, quote it: "${value}"`;
  if (Array.isArray(value)) return ' (found a list)';
  if (value === null || value === undefined) return ' (found nothing)';
  return '';
}

function build(op: MatcherName, arg: string | string[], options: MatcherOptions): StringMatcher {
  const fold = options.ignoreCase === true;
  const norm = (s: string) => (fold ? s.toLowerCase() : s);
  if (Array.isArray(arg)) {
    const set = new Set(arg.map(norm));
    const list = `[${arg.map(quote).join(', ')}]`;
    return { op, test: (v) => set.has(norm(v)), holds: `in ${list}`, wants: `in ${list}`, showsValue: true };
  }
  const want = norm(arg);
  const q = quote(arg);
  switch (op) {
    case 'is':
      return { op, test: (v) => norm(v) === want, holds: `is ${q}`, wants: q, showsValue: false };
    case 'has':
      return { op, test: (v) => norm(v) === want, holds: `has ${q}`, wants: `with ${q}`, showsValue: false };
    case 'starts_with':
      return { op, test: (v) => norm(v).startsWith(want), holds: `starts with ${q}`, wants: `starting with ${q}`, showsValue: true };
    case 'ends_with':
      return { op, test: (v) => norm(v).endsWith(want), holds: `ends with ${q}`, wants: `ending with ${q}`, showsValue: true };
    case 'contains':
      return { op, test: (v) => norm(v).includes(want), holds: `contains ${q}`, wants: `containing ${q}`, showsValue: true };
    case 'in':
      throw new Error('unreachable: in takes a list');
  }
}

/** The index of the first value the matcher accepts, or -1. */
export function firstMatch(matcher: StringMatcher, values: readonly string[]): number {
  for (let i = 0; i < values.length; i++) if (matcher.test(values[i]!)) return i;
  return -1;
}

/** Where a string criterion reads its one value, and how a reason tells what it found. */
export interface ValueSource {
  /** The value to compare, or undefined when the input has none. */
  read(input: PolicyInput): string | undefined;
  /** What the input had: `alice has alice@other.org`. */
  seen(input: PolicyInput, value: string): string;
  /** Why there is no value: `alice has no email`, or NO_IDENTITY. */
  missing(input: PolicyInput): string;
}

/** A criterion comparing one string of the input (`user`, `email`, `domain`) with a matcher. */
export function valueCondition(label: string, matcher: StringMatcher, source: ValueSource): CriterionCondition {
  return criterionCondition(
    (input) => {
      const value = source.read(input);
      return value !== undefined && matcher.test(value);
    },
    (input) => `${label} ${matcher.holds}${matcher.showsValue ? ` (${source.read(input)})` : ''}`,
    (input) => {
      const value = source.read(input);
      return `${label} ${matcher.wants} (${value === undefined ? source.missing(input) : source.seen(input, value)})`;
    },
  );
}
