import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { formatDuration, parseDuration } from '../config/duration.js';
import { PosternError } from '../errors/postern-error.js';
import { didYouMean } from '../errors/did-you-mean.js';
import { RESOURCE_TABLE } from '../resources/table.js';
import { problemLine } from '../wire/role-problems.js';
import { selectorProblems, type LabelSelector } from './labels.js';
import { templateProblem } from './traits.js';

export type { LabelSelector } from './labels.js';

/**
 * The role format (docs/roles.md): its types, the parser that checks a role file field by field,
 * the YAML form, and the built-in roles. Parsed roles are deep-frozen: matchers compiled from a
 * role are remembered by object identity, so a role must never change under them. An edited
 * role is a new object.
 */

export const ROLE_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

type Row = (typeof RESOURCE_TABLE)[number];
/** Resource kinds that admin rules name (resources/table.ts). */
type AdminKind = Extract<Row, { admin: true }>['kind'];
export type AdminResource = 'user' | 'role' | 'token' | 'lock' | 'session' | 'audit' | 'agent' | AdminKind | 'cluster';

/** What admin `rules` grant: verbs on these kinds of things stored in the cluster. */
export const ADMIN_RESOURCES: readonly AdminResource[] = [
  'user', 'role', 'token', 'lock', 'session', 'audit', 'agent',
  ...RESOURCE_TABLE.filter((row): row is Extract<Row, { admin: true }> => row.admin).map((row) => row.kind),
  'cluster',
];
export const ADMIN_VERBS = ['list', 'read', 'create', 'update', 'delete'] as const;
export type AdminVerb = (typeof ADMIN_VERBS)[number];

/** Admin rule: the verbs allowed (or denied) on the resources; `'*'` stands for all of either. */
export interface Rule {
  resources: string[];
  verbs: string[];
}

/** A role field that selects a kind's resources by label: `node_labels`, `app_labels`, … */
export type LabelField = Row['labelField'];
/** A role field that lists names: `logins`, `db_users`, … */
export type ListField = Row['roleLists'][number]['field'];

/** One allow or deny block: a selector and name lists per resource kind (resources/table.ts), and admin rules. */
export type RoleConditions = { [F in LabelField]?: LabelSelector } & { [F in ListField]?: string[] } & { rules?: Rule[] };

export interface RoleOptions {
  /** Milliseconds. */
  max_session_ttl?: number;
  require_mfa?: boolean;
}

export interface Role {
  kind: 'role';
  version: 'v1';
  metadata: { name: string; description?: string };
  spec: { options: RoleOptions; allow: RoleConditions; deny: RoleConditions };
}

/** A role's session may not be shorter than this: anything less is a typo, not a policy. */
const MIN_SESSION_TTL = 60_000;

/** A string schema checked by `problem`, which says what is wrong with a value (or nothing). */
function checkedString(problem: (s: string) => string | undefined) {
  return z.string({ error: 'write a string' }).check((ctx) => {
    const message = problem(ctx.value);
    if (message) ctx.issues.push({ code: 'custom', message, input: ctx.value });
  });
}

/** A mapping with exactly these fields; `example` shows its shape when something else stands there. */
function mapping<T extends z.core.$ZodLooseShape>(shape: T, example: string) {
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'invalid_type' ? `${iss.input === undefined ? 'missing; ' : ''}write a mapping, like ${example}` : undefined),
  });
}

/** Logins, database users and names, Kubernetes groups: plain values or trait templates. */
const templatedList = (example: string) =>
  z.array(checkedString((s) => (s === '' ? 'an empty value grants nothing; remove it' : templateProblem(s))), { error: `write a list, like ${example}` });

const selector = z
  .record(z.string(), z.unknown(), { error: 'write a mapping of label to value(s), like { env: [dev, staging] }' })
  .check((ctx) => {
    for (const p of selectorProblems(ctx.value)) ctx.issues.push({ code: 'custom', message: p.message, path: p.path, input: ctx.value });
  })
  .transform((s) => s as LabelSelector); // the check above proved the shape

const adminNames = (names: readonly string[], noun: string) =>
  z
    .array(
      checkedString((s) => {
        if (s === '*' || names.includes(s)) return undefined;
        const hint = didYouMean(s, names);
        return `"${s}" is not a known ${noun}${hint ? ` (did you mean ${hint}?)` : ''}; use ${names.join(', ')}, or * for all`;
      }),
      { error: `write a list, like [${names[0]}]` },
    )
    .min(1, `list at least one ${noun}, or * for all`);

const rule = mapping({ resources: adminNames(ADMIN_RESOURCES, 'admin resource'), verbs: adminNames(ADMIN_VERBS, 'verb') }, '{ resources: [user], verbs: [list, read] }');

const conditions = mapping(
  {
    // Per kind of resource: its label selector, then the name lists it grants.
    ...Object.fromEntries(
      RESOURCE_TABLE.flatMap((row) => [[row.labelField, selector.optional()], ...row.roleLists.map((list) => [list.field, templatedList(list.example).optional()])]),
    ),
    rules: z.array(rule, { error: 'write a list of rules, like [{ resources: [user], verbs: [list] }]' }).optional(),
  },
  '{ node_labels: { env: dev }, logins: [ubuntu] }',
).prefault({});

const sessionTtl = z.string({ error: 'write a duration with a unit, like 8h or 1h30m' }).transform((s, ctx): number => {
  const ms = parseDuration(s);
  if (ms === undefined || ms < MIN_SESSION_TTL) {
    ctx.addIssue({
      code: 'custom',
      message: ms === undefined ? `"${s}" is not a duration; write a number with a unit (m, h, d), like 8h or 1h30m` : `"${s}" is shorter than the 1m minimum`,
    });
    return z.NEVER;
  }
  return ms;
});

const roleSchema = mapping(
  {
    kind: z.literal('role', { error: (iss) => `${iss.input === undefined ? 'missing' : `${JSON.stringify(iss.input)} is not a role`}; write kind: role` }),
    version: z.literal('v1', {
      error: (iss) => `${iss.input === undefined ? 'missing' : `${JSON.stringify(iss.input)} is not a role version`}; the only version is v1, write version: v1`,
    }),
    metadata: mapping(
      {
        name: z
          .string({ error: 'missing; name the role, like name: dev-access' })
          .regex(ROLE_NAME, { error: (iss) => `"${String(iss.input)}" is not a valid role name; use 1-63 lower-case letters, digits, dots, dashes and underscores, starting with a letter or digit` }),
        description: z.string({ error: 'write the description as a string' }).optional(),
      },
      '{ name: dev-access }',
    ),
    spec: mapping(
      {
        options: mapping(
          { max_session_ttl: sessionTtl.optional(), require_mfa: z.boolean({ error: 'write true or false' }).optional() },
          '{ max_session_ttl: 8h, require_mfa: true }',
        ).prefault({}),
        allow: conditions,
        deny: conditions,
      },
      '{ allow: { app_labels: { env: dev } } }',
    ).prefault({}),
  },
  '{ kind: role, version: v1, metadata: { name: dev-access }, spec: { allow: {…}, deny: {…} } }',
);

/** The 1-based line of the field at a path in a role's YAML text (or of its nearest ancestor there). */
export type LineOf = (path: readonly PropertyKey[]) => number | undefined;

/**
 * Parses and checks a role from an already-parsed YAML/JSON value. Every problem is reported
 * together, each under its dotted path; `source` (a file name, say) starts the message, and
 * `lineOf`, when the value came from text, puts each problem's line before it.
 */
export function parseRole(value: unknown, source?: string, lineOf?: LineOf): Role {
  const result = roleSchema.safeParse(value);
  if (!result.success) throw roleError(result.error, value, source, lineOf);
  // The conditions' schema is built from the resource table, as RoleConditions is.
  const role = result.data as Role;
  return deepFreeze(role);
}

/**
 * Parses and checks a role from its YAML text (the web console's editor sends it so): a syntax
 * error and each schema problem name their line, so the editor can mark it.
 */
export function parseRoleYaml(text: string, source?: string): Role {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const invalid = (line: number | undefined, reason: string) =>
    new PosternError('CONFIG_INVALID', `${source ? `${source}: ` : ''}the role is not valid YAML:\n${problemLine(line, reason)}\nFix it and try again.`);
  const [syntax] = doc.errors;
  // yaml's own message repeats the line and draws the spot in several lines; the first says what.
  if (syntax) throw invalid(syntax.linePos?.[0].line, syntax.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''));
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (err) {
    // Some mistakes show only when the value is built: an alias to no anchor, say.
    throw invalid(undefined, (err as Error).message);
  }
  return parseRole(value, source, yamlLines(doc, lineCounter));
}

/**
 * Where each path of a parsed document's value is in its text: a mapping entry is found at its
 * key's line (a nested mapping's problem is about the field that holds it), a list item at its
 * own. A path that goes further than the text (a missing field) stops at the deepest part found.
 */
export function yamlLines(doc: Document, lineCounter: LineCounter): LineOf {
  return (path) => {
    let node: unknown = doc.contents;
    let offset = (node as { range?: [number] } | null)?.range?.[0];
    for (const segment of path) {
      let at: { range?: [number] | null | undefined } | undefined;
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : p.key) === String(segment));
        at = pair?.key as typeof at;
        node = pair?.value;
      } else if (isSeq(node) && typeof segment === 'number') {
        node = node.items[segment];
        at = node as typeof at;
      } else break;
      if (!at?.range) break;
      offset = at.range[0];
    }
    return offset === undefined ? undefined : lineCounter.linePos(offset).line;
  };
}

/** The wire/YAML form of a role, with `max_session_ttl` written as a duration again. */
export function roleToYaml(role: Role): Record<string, unknown> {
  const { max_session_ttl, ...options } = role.spec.options;
  const ttl = max_session_ttl === undefined ? {} : { max_session_ttl: formatDuration(max_session_ttl) };
  // A copy: the role itself is frozen, and the caller may want to edit what it prints.
  return structuredClone({ ...role, spec: { ...role.spec, options: { ...ttl, ...options } } });
}

function roleError(error: z.ZodError, value: unknown, source: string | undefined, lineOf: LineOf | undefined): PosternError {
  const problems = error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: [...issue.path, key], message: unknownField(key, fieldsAt(issue.path)) }))
      : [{ path: issue.path, message: issue.message }],
  );
  const located = problems.map((p) => ({ line: lineOf?.(p.path), text: `${formatPath(p.path)}: ${p.message}` }));
  // With the text at hand, in the order of its lines (the sort is stable; without lines, in the schema's order).
  const lines = located.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)).map((p) => problemLine(p.line, p.text));
  const name = (value as { metadata?: { name?: unknown } } | null | undefined)?.metadata?.name;
  const subject = typeof name === 'string' ? `role "${name}"` : 'the role';
  return new PosternError('CONFIG_INVALID', `${source ? `${source}: ` : ''}${subject} is invalid:\n${lines.join('\n')}\nFix it and try again; docs/roles.md describes every field.`);
}

function unknownField(key: string, known: string[]): string {
  const hint = didYouMean(key, known);
  return hint ? `unknown field; did you mean ${hint}?` : `unknown field; the fields here are ${known.join(', ')}`;
}

/** `spec.allow.logins[1]`, `spec.allow.app_labels["kubernetes.io/name"]`. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(String(segment))) out += `${out ? '.' : ''}${String(segment)}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out || '(top level)';
}

/** The field names the role schema accepts at `path`, for did-you-mean hints. */
function fieldsAt(path: readonly PropertyKey[]): string[] {
  let node: z.ZodType | undefined = roleSchema;
  for (const segment of path) {
    node = unwrap(node);
    if (node instanceof z.ZodObject) node = (node.shape as Record<PropertyKey, z.ZodType>)[segment];
    else if (node instanceof z.ZodArray) node = node.element as z.ZodType;
    else return [];
  }
  node = unwrap(node);
  return node instanceof z.ZodObject ? Object.keys(node.shape) : [];
}

function unwrap(node: z.ZodType | undefined): z.ZodType | undefined {
  while (node instanceof z.ZodOptional || node instanceof z.ZodPrefault) node = node.unwrap() as z.ZodType;
  return node;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

function builtin(name: string, description: string, allow: RoleConditions): Role {
  return parseRole({ kind: 'role', version: 'v1', metadata: { name, description }, spec: { allow } }, `built-in role ${name}`);
}

const EVERYTHING: LabelSelector = { '*': '*' };

export const BUILTIN_ROLES: readonly Role[] = Object.freeze([
  builtin('editor', 'Manages the cluster (users, roles, tokens, agents, resources); reaches no resource by itself.', {
    rules: [{ resources: ['*'], verbs: ['*'] }],
  }),
  // Every kind of resource, as the names of the user's traits of the same name: logins as {{internal.logins}}, …
  builtin(
    'access',
    "Reaches every resource as the logins, database users and names, and Kubernetes groups in the user's traits.",
    Object.fromEntries(RESOURCE_TABLE.flatMap((row) => [[row.labelField, EVERYTHING], ...row.roleLists.map((list) => [list.field, [`{{internal.${list.field}}}`]])])),
  ),
  builtin('auditor', 'Reads the audit log and recorded sessions.', { rules: [{ resources: ['audit', 'session'], verbs: ['list', 'read'] }] }),
]);
