import type { Condition, PolicyInput } from './criterion.js';

/**
 * The four operators, as in Pomerium's policy language:
 *
 * - `and`: every criterion matches.
 * - `or`: at least one criterion matches.
 * - `not`: none of the criteria matches (¬A ∧ ¬B, "nor" in Boolean algebra).
 * - `nor`: not all of the criteria match, that is at least one does not (¬A ∨ ¬B, "nand").
 *
 * An empty list matches nothing, whatever the operator (as in Pomerium, where an empty operator
 * adds no condition to its rule): `allow: { not: [] }` allows no one.
 */
export const OPERATORS = ['and', 'or', 'not', 'nor'] as const;
export type Operator = (typeof OPERATORS)[number];

/** Parts joined by `sep`; in parentheses when nested and there is more than one. */
function group(parts: string[], sep: string, nested: boolean): string {
  return nested && parts.length > 1 ? `(${parts.join(sep)})` : parts.join(sep);
}

function empty(op: Operator): Condition {
  const phrase = `a non-empty ${op} list (an empty list matches nothing)`;
  return { test: () => false, held: () => phrase, missed: () => phrase, asked: () => phrase, withoutIdentity: () => false };
}

/**
 * Kleene's three-valued logic over the items' answers without identity (undefined: could go either
 * way once signed in): `decisive` decides the operator at once; otherwise an unknown leaves it
 * unknown; otherwise the operator did not see its decisive value.
 */
function threeValued(items: readonly Condition[], decisive: boolean, result: { decided: boolean; otherwise: boolean }) {
  return (input: PolicyInput): boolean | undefined => {
    let unknown = false;
    for (const item of items) {
      const value = item.withoutIdentity(input);
      if (value === decisive) return result.decided;
      if (value === undefined) unknown = true;
    }
    return unknown ? undefined : result.otherwise;
  };
}

export function combine(op: Operator, items: readonly Condition[]): Condition {
  if (items.length === 0) return empty(op);
  const asked = (input: PolicyInput, sep: string) => items.map((c) => c.asked(input, true)).join(sep);
  switch (op) {
    case 'and':
      return {
        test(input) {
          for (let i = 0; i < items.length; i++) if (!items[i]!.test(input)) return false;
          return true;
        },
        held: (input, nested) => group(items.map((c) => c.held(input, true)), ' and ', nested),
        // One criterion that fails is enough to say why, and keeps the reason short: one that
        // fails whoever asks (the client's address, say) if there is one, since signing in or
        // another identity cannot change it; else the first.
        missed: (input, nested) => (items.find((c) => c.withoutIdentity(input) === false) ?? items.find((c) => !c.test(input))!).missed(input, nested),
        asked: (input, nested) => group(items.map((c) => c.asked(input, true)), ' and ', nested),
        withoutIdentity: threeValued(items, false, { decided: false, otherwise: true }),
      };
    case 'or':
      return {
        test(input) {
          for (let i = 0; i < items.length; i++) if (items[i]!.test(input)) return true;
          return false;
        },
        held: (input, nested) => items.find((c) => c.test(input))!.held(input, nested),
        missed: (input, nested) => group(items.map((c) => c.missed(input, true)), ' or ', nested),
        asked: (input, nested) => group(items.map((c) => c.asked(input, true)), ' or ', nested),
        withoutIdentity: threeValued(items, true, { decided: true, otherwise: false }),
      };
    case 'not':
      return {
        test(input) {
          for (let i = 0; i < items.length; i++) if (items[i]!.test(input)) return false;
          return true;
        },
        held: (input, nested) => group(items.map((c) => `not ${c.missed(input, true)}`), ' and ', nested),
        missed: (input, nested) => group(items.filter((c) => c.test(input)).map((c) => `not ${c.asked(input, true)}`), ' and ', nested),
        asked: (input, nested) => group(items.map((c) => `not ${c.asked(input, true)}`), ' and ', nested),
        withoutIdentity: threeValued(items, true, { decided: false, otherwise: true }),
      };
    case 'nor':
      return {
        test(input) {
          for (let i = 0; i < items.length; i++) if (!items[i]!.test(input)) return true;
          return false;
        },
        held: (input) => `not ${items.find((c) => !c.test(input))!.missed(input, true)}`,
        missed: (input) => `not ${items.length > 1 ? `(${asked(input, ' and ')})` : asked(input, '')}`,
        asked: (input) => `not ${items.length > 1 ? `(${asked(input, ' and ')})` : asked(input, '')}`,
        withoutIdentity: threeValued(items, false, { decided: true, otherwise: false }),
      };
  }
}
