import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { renderUnicodeCompact } from 'uqr';
import { stringify } from 'yaml';
import type { AdminClient } from '../admin/admin-client.js';
import { applyDocument, checkDocuments, DOCUMENT_KINDS, userAsDocument, type Applied } from '../admin/documents.js';
import type { OnlineResource, UserAdded } from '../admin/ops.js';
import { describeTarget } from '../auth/locks.js';
import { readStdin } from '../client/prompt.js';
import { PosternError } from '../errors/postern-error.js';
import { AGENT_KINDS, RESOURCE_KINDS, RESOURCE_TABLE, type ResourceKind, type ResourceKindSpec } from '../resources/table.js';
import { adminCommand, withAdmin, type AdminOptions } from './admin-options.js';
import { labelText, print, table } from './output.js';
import { durationArg, labelsArg, listArg } from './parse.js';

type Opts = AdminOptions & Record<string, unknown>;

const list = (v: string[] | undefined) => (v && v.length ? v.join(', ') : '');

/** What `ctl get` and `ctl rm` do for one kind. */
interface KindSpec<T> {
  plural: string;
  list(a: AdminClient): Promise<T[]>;
  show?(a: AdminClient, name: string): Promise<unknown>;
  remove(a: AdminClient, name: string): Promise<unknown>;
  table(rows: T[]): string;
}

function kind<T>(spec: KindSpec<T>): KindSpec<T> {
  return spec;
}

/** Each kind's form, for `ctl create --help`. */
const CREATE_FORMS = `
Forms (what \`ctl get KIND NAME\` prints is one too):

  kind: role                      # docs/roles.md
  version: v1
  metadata: { name: dev-access }
  spec: { allow: { app_labels: { env: dev } } }
  ---
  kind: user                      # created with an invite link, or updated
  version: v1
  metadata: { name: alice }
  spec: { roles: [access], traits: { logins: [ubuntu] } }
  ---
  kind: token                     # a join token for agents, shown once
  version: v1
  spec: { roles: [app, ssh], ttl: 30m }
  ---
  kind: lock
  version: v1
  spec: { target: { user: mallory }, message: laptop stolen, ttl: 8h }
`;

const KINDS = {
  user: kind({
    plural: 'users',
    list: (a) => a.run('users.ls', {}),
    show: async (a, name) => userAsDocument(await a.run('users.get', { name })),
    remove: (a, name) => a.run('users.rm', { name }),
    table: (rows) => table(['NAME', 'ROLES', 'LOGINS', 'CREATED'], rows.map((u) => [u.name, list(u.roles), list(u.traits.logins), u.created])),
  }),
  role: kind({
    plural: 'roles',
    list: (a) => a.run('roles.ls', {}),
    show: (a, name) => a.run('roles.get', { name }),
    remove: (a, name) => a.run('roles.rm', { name }),
    table: (rows) => table(['NAME', 'DESCRIPTION'], rows.map((r) => { const m = r.metadata as { name: string; description?: string }; return [m.name, m.description]; })),
  }),
  token: kind({
    plural: 'tokens',
    list: (a) => a.run('tokens.ls', {}),
    remove: (a, token) => a.run('tokens.rm', { token }),
    table: (rows) => table(['ID', 'TYPE', 'EXPIRES', 'CREATED BY'], rows.map((t) => [t.id, list(t.roles), t.expires, t.created_by])),
  }),
  lock: kind({
    plural: 'locks',
    list: (a) => a.run('locks.ls', {}),
    remove: (a, id) => a.run('locks.rm', { id }),
    table: (rows) => table(['ID', 'TARGET', 'MESSAGE', 'EXPIRES'], rows.map((l) => [l.id, describeTarget(l.target), l.message, l.expires ?? 'never'])),
  }),
  agent: kind({
    plural: 'agents',
    list: (a) => a.run('agents.ls', {}),
    remove: () => Promise.reject(new PosternError('USAGE', 'agents are listed while connected; to cut one off, lock it: postern ctl lock --agent NAME')),
    table: (rows) =>
      table(
        ['NAME', 'ID', 'SERVES', 'FROM', 'CONNECTED', 'LAST HEARTBEAT', 'PROXIES', 'VERSION'],
        rows.map((g) => [g.name, g.id, g.resources.map((r) => `${r.kind} ${r.name}`).join(', '), g.remote_addr, g.connected_at, g.last_heartbeat ? `${Math.max(0, Math.round((Date.now() - Date.parse(g.last_heartbeat)) / 1000))}s ago` : '', String(g.proxies.length), g.version]),
        '(no agents connected)',
      ),
  }),
  session: kind({
    plural: 'sessions',
    list: (a) => a.run('sessions.ls', {}),
    remove: (a, id) => a.run('sessions.rm', { id }),
    table: (rows) => table(['ID', 'USER', 'FROM', 'EXPIRES'], rows.map((x) => [x.id, x.user, x.remote_addr, x.expires])),
  }),
};
/** Online resources of the kinds agents announce (resources/table.ts), one row per name with the agents serving it. */
const ANNOUNCED: Record<string, KindSpec<OnlineResource>> = Object.fromEntries(
  AGENT_KINDS.map((row) => {
    const target = (row as ResourceKindSpec).ctl.target;
    return [
      row.kind,
      kind({
        plural: row.plural,
        list: (a) => a.run('resources.ls', { kind: row.kind }),
        remove: () => Promise.reject(new PosternError('USAGE', `${row.plural} are ${row.ctl.definedIn}`)),
        table: (rows) =>
          table(
            ['NAME', 'LABELS', ...(target ? [target.header] : []), 'AGENTS', 'PROXIES', 'DESCRIPTION'],
            rows.map((r) => [r.name, labelText(r.labels), ...(target ? [target.of(r)] : []), r.agents.join(', '), String(r.proxies.length), r.description]),
            `(no ${row.plural} online)`,
          ),
      }),
    ];
  }),
);
const ALL_KINDS: Record<string, KindSpec<unknown>> = { ...KINDS, ...ANNOUNCED } as Record<string, KindSpec<unknown>>;
const PLURALS = Object.values(ALL_KINDS).map((k) => k.plural).join(', ');

function kindOf(text: string): KindSpec<unknown> {
  const spec = Object.entries(ALL_KINDS).find(([singular, k]) => singular === text || k.plural === text)?.[1];
  if (spec) return spec;
  // A kind of resource that is not stored or announced (routes live in the proxy's config).
  const row = RESOURCE_TABLE.find((r) => r.kind === text || r.plural === text);
  if (row) throw new PosternError('USAGE', `${row.plural} are ${row.ctl.definedIn}`);
  throw new PosternError('USAGE', `"${text}" is not a kind; use one of ${PLURALS}`);
}


export function registerCtlResources(ctl: Command): void {
  const users = ctl.command('users').description('Add, list, change and remove users.');
  adminCommand(users.command('add').argument('<name>', 'the user name').description('Add a user. Prints a one-time invite link (valid 1 h) for setting a password and enrolling an authenticator app.'))
    .requiredOption('--roles <roles>', 'comma-separated roles, e.g. access or editor,access', listArg)
    .option('--logins <logins>', "OS logins the user may use (the user's `logins` trait), e.g. root,ubuntu", listArg)
    .option('--traits <traits>', 'more traits as name=value pairs, e.g. db_users=alice,kube_groups=dev', labelsArg)
    .option('--password-stdin', 'set the password from standard input instead of sending an invite (prints the TOTP secret once)')
    .action(async (name: string, opts: Opts & { roles: string[]; logins?: string[]; traits?: Record<string, string>; passwordStdin?: boolean }) => {
      const password = opts.passwordStdin ? await readStdin() : undefined;
      const traits = { ...Object.fromEntries(Object.entries(opts.traits ?? {}).map(([k, v]) => [k, [v]])), ...(opts.logins ? { logins: opts.logins } : {}) };
      const added = await withAdmin(opts, (a) => a.run('users.add', { name, roles: opts.roles, traits, ...(password !== undefined ? { password } : {}) }));
      print(opts.format, added, () => `User ${name} added with roles ${added.user.roles.join(', ')}.\n` + credentialsText(name, added));
    });

  adminCommand(users.command('reset').argument('<name>', 'the user name').description('Reset a user\'s password and authenticator: prints a new one-time link (old links stop working).'))
    .option('--password-stdin', 'set the new password from standard input instead of sending a link')
    .action(async (name: string, opts: Opts & { passwordStdin?: boolean }) => {
      const password = opts.passwordStdin ? await readStdin() : undefined;
      const done = await withAdmin(opts, (a) => a.run('users.reset', { name, ...(password !== undefined ? { password } : {}) }));
      print(opts.format, done, () => `Credentials of ${name} reset.\n` + credentialsText(name, done));
    });

  adminCommand(users.command('update').argument('<name>', 'the user name').description("Change a user's roles or logins."))
    .option('--roles <roles>', 'the new comma-separated roles (--roles= with none takes every access away)', listArg)
    .option('--logins <logins>', 'the new logins trait', listArg)
    .action(async (name: string, opts: Opts & { roles?: string[]; logins?: string[] }) => {
      if (!opts.roles && !opts.logins) throw new PosternError('USAGE', 'nothing to change: pass --roles and/or --logins');
      const user = await withAdmin(opts, async (a) => {
        const current = await a.run('users.get', { name });
        return a.run('users.update', { name, ...(opts.roles ? { roles: opts.roles } : {}), ...(opts.logins ? { traits: { ...current.traits, logins: opts.logins } } : {}) });
      });
      print(opts.format, user, () => `User ${name} now has roles ${list(user.roles) || '(none)'} and logins ${list(user.traits.logins) || '(none)'}.\n`);
    });

  adminCommand(users.command('ls').description('List users.')).action((opts: Opts) => getKind(KINDS.user, undefined, opts));
  adminCommand(users.command('rm').argument('<name>', 'the user name').description('Remove a user and end their web sessions.')).action((name: string, opts: Opts) => removeKind(KINDS.user, name, opts));

  const tokens = ctl.command('tokens').description('Join tokens for agents.');
  adminCommand(tokens.command('add').description('Make a single-use join token and print the command that starts an agent with it.'))
    .requiredOption('--type <types>', 'what the agent may serve: app, ssh, db, comma-separated')
    .addOption(new Option('--ttl <duration>', 'how long the token stays valid').default(30 * 60_000, '30m').argParser(durationArg(60_000, 30 * 86_400_000)))
    .action(async (opts: Opts & { type: string; ttl: number }) => {
      const made = await withAdmin(opts, (a) => a.run('tokens.add', { type: opts.type, ttl_ms: opts.ttl }));
      print(opts.format, made, () => `Join token (one use, valid until ${made.record.expires}, id ${made.record.id}):\n\n  ${made.token}\n\nStart an agent with it:\n\n  ${made.start_command}\n`);
    });
  adminCommand(tokens.command('ls').description('List join tokens (by id; the tokens themselves are shown only when made).')).action((opts: Opts) => getKind(KINDS.token, undefined, opts));
  adminCommand(tokens.command('rm').argument('<token-or-id>', 'the token, or its id from `tokens ls`').description('Remove a join token.')).action((token: string, opts: Opts) => removeKind(KINDS.token, token, opts));

  adminCommand(
    ctl
      .command('get')
      .argument('<kind>', `one of ${PLURALS}`)
      .argument('[name]', 'one item by name (users, roles)')
      .description('List users, roles, tokens, locks or web sessions, or show one.'),
  ).action((kind: string, name: string | undefined, opts: Opts) => getKind(kindOf(kind), name, opts));

  adminCommand(ctl.command('rm').argument('<kind>', `one of ${PLURALS}`).argument('<name>', 'the name, or the id for tokens, locks and sessions').description('Remove a user, role, token, lock or web session.')).action(
    (kind: string, name: string, opts: Opts) => removeKind(kindOf(kind), name, opts),
  );

  adminCommand(
    ctl
      .command('create')
      .description(`Create or update ${DOCUMENT_KINDS.join(', ')}s from a YAML file; several documents separated by --- are fine, each checked before any is applied.`)
      .addHelpText('after', CREATE_FORMS),
  )
    .requiredOption('-f, --file <file>', 'the YAML file, or - for standard input')
    .action(async (opts: Opts & { file: string }) => {
      const text = opts.file === '-' ? await readStdin() : readFileOrFail(opts.file);
      const checked = checkDocuments(text, opts.file === '-' ? 'stdin' : opts.file);
      const results = await withAdmin(opts, async (a) => {
        const out: Applied[] = [];
        for (const { source, doc } of checked) out.push(await applyDocument(a, doc, source));
        return out;
      });
      print(opts.format, results, () => results.map((r) => `${r.kind} "${r.name}" ${r.result}\n${r.secret ? `\n  ${r.secret}\n\n` : ''}${r.next ? `  ${r.next}\n` : ''}`).join(''));
    });

  adminCommand(ctl.command('lock').description('Lock a user, a role or an agent: new connections are refused at once and live ones end within a second.'))
    .option('--user <name>', 'the user to lock')
    .option('--role <name>', 'the role to lock (everyone holding it)')
    .option('--agent <name-or-id>', 'the agent to lock (its tunnel closes and it cannot reconnect)')
    .addOption(new Option('--ttl <duration>', 'lift the lock after this long (default: until removed with `ctl rm lock ID`)').argParser(durationArg(1000, 365 * 86_400_000)))
    .option('--message <text>', 'why; shown to the people refused')
    .action(async (opts: Opts & { user?: string; role?: string; agent?: string; ttl?: number; message?: string }) => {
      const lock = await withAdmin(opts, (a) =>
        a.run('locks.add', {
          ...(opts.user ? { user: opts.user } : {}),
          ...(opts.role ? { role: opts.role } : {}),
          ...(opts.agent ? { agent: opts.agent } : {}),
          ...(opts.ttl ? { ttl_ms: opts.ttl } : {}),
          ...(opts.message ? { message: opts.message } : {}),
        }),
      );
      print(opts.format, lock, () => `Locked: ${lock.description}.\nLock id ${lock.id}; lift it with: postern ctl rm lock ${lock.id}\n`);
    });

  const access = ctl.command('access').description('Explain access decisions.');
  adminCommand(access.command('check').description('Say whether a user may reach a resource, and why: which role allows or denies it, by which rule.'))
    .requiredOption('--user <name>', 'the user')
    .addOption(new Option('--kind <kind>', 'the kind of resource').choices(RESOURCE_KINDS).makeOptionMandatory())
    .requiredOption('--name <name>', 'the resource name')
    .option('--labels <labels>', 'the resource labels as k=v,k2=v2 (default: those of the online resource)', labelsArg)
    .option('--login <login>', 'for nodes: the OS login to check')
    .action(async (opts: Opts & { user: string; kind: ResourceKind; name: string; labels?: Record<string, string>; login?: string }) => {
      const d = await withAdmin(opts, (a) =>
        a.run('access.check', { user: opts.user, kind: opts.kind, name: opts.name, ...(opts.labels ? { labels: opts.labels } : {}), ...(opts.login ? { login: opts.login } : {}) }),
      );
      const labels = labelText(d.resource.labels) || 'no labels';
      print(opts.format, d, () => `${d.allow ? 'ALLOWED' : 'DENIED'}: ${d.user} (roles ${list(d.roles) || 'none'}) → ${d.resource.kind} "${d.resource.name}" (${labels})${opts.login ? ` as ${opts.login}` : ''}\n` + d.reasons.map((r) => `  - ${r}\n`).join(''));
    });

  const audit = ctl.command('audit').description('The audit log.');
  adminCommand(audit.command('ls').description('List audit events, oldest first; --follow keeps printing new ones.'))
    .addOption(new Option('--since <duration>', 'events from this long ago (default 1h; with --follow, only new events unless given)').argParser(durationArg(1000, 3650 * 86_400_000)))
    .option('--type <type>', 'only this event type (repeatable), e.g. user.login.failed', (v: string, prev: string[] = []) => [...prev, v])
    .option('--user <name>', "only this user's events")
    .addOption(new Option('--limit <n>', 'at most this many events').default(1000).argParser((v) => Number(v)))
    .option('--follow', 'keep running and print new events as they happen (Ctrl-C stops)')
    .action(async (opts: Opts & { since?: number; type?: string[]; user?: string; limit: number; follow?: boolean }) => {
      const filter = { ...(opts.type ? { types: opts.type } : {}), ...(opts.user ? { user: opts.user } : {}) };
      await withAdmin(opts, async (a) => {
        // Following without --since starts at the newest event there is, like tail -f -n0.
        let last = opts.follow && opts.since === undefined ? ((await a.run('audit.ls', { since_ms: 0, limit: 1, newest: true })).at(0)?.index ?? 0) : undefined;
        for (;;) {
          const events = await a.run('audit.ls', { ...filter, ...(last === undefined ? { since_ms: Date.now() - (opts.since ?? 3_600_000), limit: opts.limit } : { after_index: last }) });
          printEvents(opts, events, !opts.follow);
          if (!opts.follow) return;
          last = events.at(-1)?.index ?? last ?? 0;
          await new Promise((r) => setTimeout(r, 500));
        }
      });
    });
}

function credentialsText(name: string, added: Omit<UserAdded, 'user'>): string {
  if (added.invite_url) {
    return `Send ${name} this link to set up their account (one use, valid until ${added.invite_expires}):\n\n  ${added.invite_url}\n`;
  }
  if (!added.otp_uri) return 'Password set.\n';
  const qr = process.stdout.isTTY ? `\n${renderUnicodeCompact(added.otp_uri)}\n` : '';
  return `Password set. Add this to ${name}'s authenticator app now; it is not shown again:\n\n  ${added.otp_uri}\n${qr}`;
}

function readFileOrFail(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new PosternError('USAGE', `-f: cannot read ${file}: ${(err as Error).message}`);
  }
}

async function getKind<T>(spec: KindSpec<T>, name: string | undefined, opts: Opts): Promise<void> {
  await withAdmin(opts, async (a) => {
    if (name === undefined) {
      const rows = await spec.list(a);
      print(opts.format, rows, () => spec.table(rows));
      return;
    }
    if (!spec.show) throw new PosternError('USAGE', `${spec.plural} are listed, not shown one by one; run \`postern ctl get ${spec.plural}\``);
    const one = await spec.show(a, name);
    // One item reads best as YAML, in the same shape `ctl create -f` takes.
    print(opts.format === 'text' ? 'yaml' : opts.format, one, () => '');
  });
}

async function removeKind<T>(spec: KindSpec<T>, name: string, opts: Opts): Promise<void> {
  const removed = await withAdmin(opts, (a) => spec.remove(a, name));
  print(opts.format, removed, () => `${spec.plural.slice(0, -1)} ${name} removed.\n`);
}

function printEvents(opts: Opts, events: { index: number; time: string; event: string; code: string; user?: string; remote_addr?: string; [k: string]: unknown }[], asTable: boolean): void {
  if (opts.format !== 'text') {
    for (const e of events) process.stdout.write(opts.format === 'json' ? JSON.stringify(e) + '\n' : `---\n${stringify(e)}`);
    return;
  }
  const details = (e: Record<string, unknown>) =>
    Object.entries(e)
      .filter(([k]) => !['index', 'time', 'event', 'code', 'uid', 'user', 'remote_addr'].includes(k))
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
  const rows = events.map((e) => [e.time, e.event, e.user, e.remote_addr, details(e)]);
  if (asTable) process.stdout.write(table(['TIME', 'EVENT', 'USER', 'FROM', 'DETAILS'], rows, '(no events)'));
  else for (const r of rows) process.stdout.write(r.map((c) => c ?? '').join('  ') + '\n');
}
