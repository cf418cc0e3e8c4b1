/**
 * Label selectors: which resources a role's `*_labels` field reaches. A selector is compiled once
 * per selector object and remembered (roles are frozen once parsed), so a check only runs
 * prepared tests and never builds a regular expression.
 */

/** Label key (or `'*'`) → one value or a list of values. See docs/roles.md. */
export type LabelSelector = Record<string, string | string[]>;

export type Labels = Readonly<Record<string, string>>;

/** Where a selector is wrong, relative to the selector, and what to do about it. */
export interface SelectorProblem {
  path: (string | number)[];
  message: string;
}

/** One key of a selector: the resource must have the label, with a value one of `values` matches. */
interface Term {
  key: string;
  values: readonly string[];
  test: (value: string) => boolean;
}

/** A selector ready for matching, which can also say in words why it matched or did not. */
export class LabelMatcher {
  /** True for `'*': '*'` alone: every resource matches, even one with no labels. */
  readonly matchesEverything: boolean;
  private readonly terms: readonly Term[];

  constructor(selector: LabelSelector) {
    const entries = Object.entries(selector);
    // `'*': '*'` matches every resource, so beside other keys it adds no condition.
    this.terms = entries.filter(([key]) => key !== '*').map(([key, values]) => compileTerm(key, values));
    // An empty selector matches nothing (parseRole refuses it), never everything.
    this.matchesEverything = this.terms.length === 0 && entries.length > 0;
  }

  matches(labels: Labels): boolean {
    if (this.terms.length === 0) return this.matchesEverything;
    for (const term of this.terms) {
      const value = labels[term.key];
      if (value === undefined || !term.test(value)) return false;
    }
    return true;
  }

  /** For a selector that matches: `env=dev matches (env: [dev, staging])`. */
  explainMatch(labels: Labels): string {
    if (this.terms.length === 0) return `'*': '*' matches everything`;
    const found = this.terms.map((t) => `${t.key}=${labels[t.key]}`).join(', ');
    const wanted = this.terms.map((t) => `${t.key}: ${t.values.length === 1 ? t.values[0] : `[${t.values.join(', ')}]`}`).join(', ');
    return `${found} matches (${wanted})`;
  }

  /** For a selector that does not match: `needs env in [dev, staging] and team=web`. */
  explainMismatch(labels: Labels): string {
    if (this.terms.length === 0) return 'has an empty selector, which matches nothing';
    const failing = this.terms.filter((t) => labels[t.key] === undefined || !t.test(labels[t.key]!));
    return `needs ${failing.map((t) => (t.values.length === 1 ? `${t.key}=${t.values[0]}` : `${t.key} in [${t.values.join(', ')}]`)).join(' and ')}`;
  }
}

const compiled = new WeakMap<LabelSelector, LabelMatcher>();

/** The matcher for `selector`, built on first use and kept as long as the selector object lives. */
export function compileSelector(selector: LabelSelector): LabelMatcher {
  let matcher = compiled.get(selector);
  if (!matcher) {
    matcher = new LabelMatcher(selector);
    compiled.set(selector, matcher);
  }
  return matcher;
}

/** `env=prod, team=web`, or `no labels`: how a resource's labels read in a reason. */
export function formatLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  return pairs.length > 0 ? `labels ${pairs.join(', ')}` : 'no labels';
}

/** Everything wrong with a selector as written in a role file; empty when it is fine. */
export function selectorProblems(selector: Record<string, unknown>): SelectorProblem[] {
  const entries = Object.entries(selector);
  if (entries.length === 0) {
    return [{ path: [], message: `an empty selector matches nothing; write { '*': '*' } to match everything, or remove the field` }];
  }
  return entries.flatMap(([key, value]): SelectorProblem[] => {
    const values = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === 'string')) {
      return [{ path: [key], message: 'write a value or a list of values, like dev or [dev, staging]' }];
    }
    if (key === '*' && !values.every((v) => v === '*')) {
      return [{ path: [key], message: `the key '*' only takes the value '*' (every resource); to match values of one label, name its key` }];
    }
    return values.flatMap((v, i) => {
      const message = labelValueProblem(v);
      return message ? [{ path: typeof value === 'string' ? [key] : [key, i], message }] : [];
    });
  });
}

/** What is wrong with one label value (`*`, a glob, or an anchored regex `^…$`), if anything. */
export function labelValueProblem(value: string): string | undefined {
  if (value === '') return 'a label value cannot be empty; write * to match any value';
  if (value.startsWith('^')) {
    try {
      anchoredRegExp(value);
    } catch (err) {
      const detail = (err as Error).message.split(': ').at(-1);
      return `"${value}" is not a valid regular expression (${detail}); fix it, or use a glob such as web-*`;
    }
    if (!value.endsWith('$')) return `"${value}" starts with ^ but does not end with $; a regular expression must match the whole value, like ^(web|api)$`;
  } else if (value.endsWith('$')) {
    return `"${value}" ends with $ but does not start with ^; a regular expression must match the whole value, like ^(web|api)$`;
  }
  return undefined;
}

function compileTerm(key: string, values: string | string[]): Term {
  const list = typeof values === 'string' ? [values] : values;
  const tests = list.map(compileValue);
  return { key, values: list, test: tests.length === 1 ? tests[0]! : (v) => tests.some((t) => t(v)) };
}

function compileValue(value: string): (v: string) => boolean {
  if (value === '*') return () => true;
  if (value.startsWith('^')) {
    const re = anchoredRegExp(value);
    return (v) => re.test(v);
  }
  if (value.includes('*') || value.includes('?')) {
    const re = new RegExp(`^${value.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')}$`);
    return (v) => re.test(v);
  }
  return (v) => v === value;
}

/**
 * `^a|b$` would otherwise match "xb": the pattern between ^ and $ is grouped so the anchors hold
 * for every alternative.
 */
function anchoredRegExp(value: string): RegExp {
  return new RegExp(`^(?:${value.slice(1, value.endsWith('$') ? -1 : undefined)})$`);
}
