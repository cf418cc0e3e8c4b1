import { LineCounter, parseAllDocuments } from 'yaml';
import { z } from 'zod';
import type { User } from '../auth/users.js';
import { formatDuration, parseDuration } from '../config/duration.js';
import { didYouMean } from '../errors/did-you-mean.js';
import { isPosternError, PosternError } from '../errors/postern-error.js';
import { parseRole, yamlLines, type LineOf } from '../policy/role.js';
import { RESOURCE_TABLE } from '../resources/table.js';
import type { AdminClient } from './admin-client.js';

/**
 * What `postern ctl create -f` takes: YAML documents, one kind each, in the form `ctl get KIND
 * NAME` prints (kind, version, metadata, spec). One table: each kind's document schema and what
 * applying it does. Every document of a file is checked before any is applied, so a mistake in
 * the third leaves the first two unapplied too.
 */

/** The outcome of one document, for the person running ctl. */
export interface Applied {
  kind: DocumentKind;
  name: string;
  result: 'created' | 'updated';
  /** What is shown once and never stored in the clear: an invite link, a join token. */
  secret?: string;
  /** What to do with it, for people. */
  next?: string;
}

const duration = (min: number, max: number) =>
  z.string({ error: 'write a duration with a unit, like 30m or 8h' }).transform((s, ctx): number => {
    const ms = parseDuration(s);
    if (ms === undefined || ms < min || ms > max) {
      ctx.addIssue({ code: 'custom', message: `"${s}" is not a duration between ${formatDuration(min)} and ${formatDuration(max)}; write a number with a unit, like 30m or 8h` });
      return z.NEVER;
    }
    return ms;
  });

const names = z.array(z.string().min(1), { error: 'write a list, like [access]' });

/** A document's outer shape: `kind: K`, `version: v1`, metadata and spec. */
function documentOf<K extends string, M extends z.ZodType, S extends z.ZodRawShape>(kind: K, metadata: M, spec: S) {
  return z.strictObject({
    kind: z.literal(kind),
    version: z.literal('v1', { error: 'the only version is v1; write version: v1' }),
    metadata,
    spec: z.strictObject(spec),
  });
}

/** Tokens and locks are named by the cluster (an id); a name given here is a note for people. */
const unnamed = z.strictObject({ name: z.string().optional() }).optional();

const userDocument = documentOf(
  'user',
  // created and created_by are what `ctl get user NAME` shows; they are taken as read-only.
  z.strictObject({ name: z.string({ error: 'name the user, like name: alice' }), created: z.string().optional(), created_by: z.string().optional() }, { error: 'write metadata: { name: NAME }' }),
  { roles: names, traits: z.record(z.string(), names).default({}) },
);

const tokenDocument = documentOf(
  'token',
  unnamed,
  // What agents joining with the token may serve, as `ctl tokens add --type` takes it.
  { roles: names.min(1, 'list what agents joining with the token may serve, like [app, ssh]'), ttl: duration(60_000, 30 * 86_400_000).default(30 * 60_000) },
);

const lockDocument = documentOf(
  'lock',
  unnamed,
  {
    target: z.union([z.strictObject({ user: z.string() }), z.strictObject({ role: z.string() }), z.strictObject({ agent: z.string() })], {
      error: 'write the target as { user: NAME }, { role: NAME } or { agent: NAME_OR_ID }',
    }),
    message: z.string().optional(),
    ttl: duration(1000, 365 * 86_400_000).optional(),
  },
);

type Checked = { kind: 'role'; name: string; value: unknown } | { kind: 'user'; value: z.output<typeof userDocument> } | { kind: 'token'; value: z.output<typeof tokenDocument> } | { kind: 'lock'; value: z.output<typeof lockDocument> };

const DOCUMENTS = {
  role: {
    check: (value: unknown, source: string, lineOf?: LineOf): Checked => ({ kind: 'role', name: parseRole(value, source, lineOf).metadata.name, value }),
    async apply(admin: AdminClient, doc: Extract<Checked, { kind: 'role' }>, source: string): Promise<Applied> {
      const { name, result } = await admin.run('roles.upsert', { role: doc.value, source });
      return { kind: 'role', name, result };
    },
  },
  user: {
    check: (value: unknown, source: string): Checked => ({ kind: 'user', value: parsed(userDocument, value, source) }),
    async apply(admin: AdminClient, doc: Extract<Checked, { kind: 'user' }>): Promise<Applied> {
      const { metadata, spec } = doc.value;
      const exists = await admin.run('users.get', { name: metadata.name }).then(
        () => true,
        (err: unknown) => (isPosternError(err, 'NOT_FOUND') ? false : Promise.reject(err)),
      );
      if (exists) {
        await admin.run('users.update', { name: metadata.name, roles: spec.roles, traits: spec.traits });
        return { kind: 'user', name: metadata.name, result: 'updated' };
      }
      const added = await admin.run('users.add', { name: metadata.name, roles: spec.roles, traits: spec.traits });
      return { kind: 'user', name: metadata.name, result: 'created', ...(added.invite_url ? { secret: added.invite_url, next: `send it to ${metadata.name} to set a password (valid until ${added.invite_expires})` } : {}) };
    },
  },
  token: {
    check: (value: unknown, source: string): Checked => ({ kind: 'token', value: parsed(tokenDocument, value, source) }),
    async apply(admin: AdminClient, doc: Extract<Checked, { kind: 'token' }>): Promise<Applied> {
      const made = await admin.run('tokens.add', { type: doc.value.spec.roles.join(','), ttl_ms: doc.value.spec.ttl });
      return { kind: 'token', name: made.record.id, result: 'created', secret: made.token, next: `start an agent with --token=<it> --ca-pin=${made.ca_pin} (one use, valid until ${made.record.expires})` };
    },
  },
  lock: {
    check: (value: unknown, source: string): Checked => ({ kind: 'lock', value: parsed(lockDocument, value, source) }),
    async apply(admin: AdminClient, doc: Extract<Checked, { kind: 'lock' }>): Promise<Applied> {
      const { target, message, ttl } = doc.value.spec;
      const lock = await admin.run('locks.add', { ...target, ...(message ? { message } : {}), ...(ttl ? { ttl_ms: ttl } : {}) });
      return { kind: 'lock', name: lock.id, result: 'created', next: lock.description };
    },
  },
};

export type DocumentKind = keyof typeof DOCUMENTS;
export const DOCUMENT_KINDS = Object.keys(DOCUMENTS) as DocumentKind[];

/**
 * Checks one parsed YAML document; throws CONFIG_INVALID naming the source and the fields (and,
 * for a role, with `lineOf`, each field's line in the file).
 */
export function checkDocument(value: unknown, source: string, lineOf?: LineOf): Checked {
  const kind = (value as { kind?: unknown } | null)?.kind;
  if (typeof kind === 'string' && Object.hasOwn(DOCUMENTS, kind)) return DOCUMENTS[kind as DocumentKind].check(value, source, lineOf);
  throw new PosternError('CONFIG_INVALID', `${source}: ${notCreatable(kind)}`);
}

/** The documents of a `ctl create -f` file, each checked; `file` names it in errors. */
export function checkDocuments(text: string, file: string): { source: string; doc: Checked }[] {
  // Lines are counted over the whole file, so a role in its third document is found at its line in the file.
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter });
  return (Array.isArray(docs) ? docs : [docs]).map((doc, i) => {
    const source = `${file}${i > 0 ? ` (document ${i + 1})` : ''}`;
    const invalid = (reason: string) => new PosternError('CONFIG_INVALID', `${source} is not valid YAML: ${reason}`);
    if (doc.errors.length) throw invalid(doc.errors[0]!.message.split('\n')[0]!);
    let value: unknown;
    try {
      value = doc.toJS();
    } catch (err) {
      // yaml finds some mistakes only when it builds the value: an alias to no anchor, a merge of a non-mapping.
      throw invalid((err as Error).message);
    }
    return { source, doc: checkDocument(value, source, yamlLines(doc, lineCounter)) };
  });
}

/** Applies a checked document through the admin client (locally or through the proxy). */
export function applyDocument(admin: AdminClient, doc: Checked, source: string): Promise<Applied> {
  return (DOCUMENTS[doc.kind].apply as (a: AdminClient, d: Checked, s: string) => Promise<Applied>)(admin, doc, source);
}

/** A user as a document, in the form `ctl create -f` takes back. */
export function userAsDocument(user: User): z.input<typeof userDocument> {
  return { kind: 'user', version: 'v1', metadata: { name: user.name, created: user.created, created_by: user.created_by }, spec: { roles: user.roles, traits: user.traits } };
}

/** Why a kind cannot be created from a file, and what to do instead. */
function notCreatable(kind: unknown): string {
  const row = RESOURCE_TABLE.find((r) => r.kind === kind || r.plural === kind);
  if (row) return `kind: ${row.kind} cannot be created from a file: ${row.plural} are ${row.ctl.definedIn}`;
  const hint = typeof kind === 'string' ? didYouMean(kind, DOCUMENT_KINDS) : undefined;
  return `kind: ${JSON.stringify(kind ?? null)} cannot be created from a file${hint ? ` (did you mean ${hint}?)` : ''}; the kinds are ${DOCUMENT_KINDS.join(', ')}`;
}

function parsed<S extends z.ZodType>(schema: S, value: unknown, source: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const lines = result.error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys' ? issue.keys.map((key) => `  ${[...issue.path, key].join('.')}: unknown field`) : [`  ${issue.path.join('.') || '(top level)'}: ${issue.message}`],
  );
  const kind = (value as { kind?: string }).kind;
  throw new PosternError('CONFIG_INVALID', `${source}: the ${kind} is invalid:\n${lines.join('\n')}\nFix it and try again; \`postern ctl create --help\` shows each kind's form.`);
}
