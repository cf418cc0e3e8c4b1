import { PosternError } from '../errors/postern-error.js';

/**
 * Trait templates: role values such as `{{internal.logins}}` or `{{internal.username}}-dev` that
 * become the user's own values when a checker is built for them.
 */

/** Who asks: their username, the names of their roles and their traits (trait name → values). */
export interface Subject {
  username: string;
  roles: string[];
  traits: Record<string, string[]>;
}

type Namespace = 'internal' | 'external';

/**
 * Where each namespace reads. Both read `traits` for now; they stay apart so that traits from an
 * SSO provider (external) can get their own map without touching the roles that use them.
 */
const TRAIT_SOURCES: Record<Namespace, (subject: Subject, name: string) => readonly string[]> = {
  internal: (subject, name) => (name === 'username' ? [subject.username] : (subject.traits[name] ?? [])),
  external: (subject, name) => subject.traits[name] ?? [],
};

type Parsed =
  | { kind: 'literal' }
  | { kind: 'template'; prefix: string; namespace: Namespace; name: string; suffix: string }
  | { kind: 'malformed'; problem: string };

const FIX = 'write {{internal.NAME}} or {{external.NAME}}, like {{internal.logins}}';

/** Splits a value around its one template, if it has one. */
function parse(value: string): Parsed {
  const open = value.indexOf('{{');
  const close = value.indexOf('}}');
  if (open === -1 && close === -1) return { kind: 'literal' };
  const malformed = (what: string): Parsed => ({ kind: 'malformed', problem: `"${value}" ${what}` });
  if (close === -1) return malformed(`has {{ without a closing }}; ${FIX}`);
  if (open === -1 || close < open) return malformed(`has }} without an opening {{; ${FIX}`);
  const suffix = value.slice(close + 2);
  if (suffix.includes('{{') || suffix.includes('}}')) return malformed('has more than one template; use one template per value');
  const m = /^\s*([A-Za-z]+)\.([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*$/.exec(value.slice(open + 2, close));
  if (!m) return malformed(`is not a valid template; ${FIX}`);
  const namespace = m[1]!;
  const name = m[2]!;
  if (namespace !== 'internal' && namespace !== 'external') {
    return malformed(`uses the unknown namespace "${namespace}"; write {{internal.${name}}} or {{external.${name}}}`);
  }
  return { kind: 'template', prefix: value.slice(0, open), namespace, name, suffix };
}

/** What is wrong with a template in `value`, if anything; a value with no template is fine. */
export function templateProblem(value: string): string | undefined {
  const parsed = parse(value);
  return parsed.kind === 'malformed' ? parsed.problem : undefined;
}

/**
 * The values with every template replaced by the subject's trait values, one value per trait
 * value, deduplicated. A trait the subject lacks (or an empty trait value) gives nothing.
 */
export function expandTemplates(values: readonly string[], subject: Subject): string[] {
  const out = new Set<string>();
  for (const value of values) {
    const parsed = parse(value);
    if (parsed.kind === 'malformed') throw new PosternError('CONFIG_INVALID', `${parsed.problem} (the role was not checked with parseRole)`);
    if (parsed.kind === 'literal') {
      out.add(value);
      continue;
    }
    for (const trait of TRAIT_SOURCES[parsed.namespace](subject, parsed.name)) {
      if (trait !== '') out.add(parsed.prefix + trait + parsed.suffix);
    }
  }
  return [...out];
}
