import { useCallback, useEffect, useId, useMemo, useRef, useState, type ReactElement } from 'react';
import type { ApiError, App, Db } from './api';
import { CopyCommand } from './CopyCommand';
import { ErrorBox, asApiError } from './errors';
import { Labels } from './Labels';
import { navigate } from './nav';
import { resourcesApi, type Node, type Route } from './resources-api';
import { useBusy } from './use-busy';

/** Every kind the page lists, in the order of the filter, with what to call it. */
const KINDS = [
  { kind: 'app', plural: 'Apps', noun: 'applications' },
  { kind: 'node', plural: 'SSH nodes', noun: 'SSH nodes' },
  { kind: 'db', plural: 'Databases', noun: 'databases' },
  { kind: 'route', plural: 'TCP routes', noun: 'TCP routes' },
] as const;
type Kind = (typeof KINDS)[number]['kind'];

type Resource =
  | { kind: 'app'; name: string; description?: string | undefined; labels: Record<string, string>; app: App }
  | { kind: 'node'; name: string; description?: string | undefined; labels: Record<string, string>; node: Node }
  | { kind: 'db'; name: string; description?: string | undefined; labels: Record<string, string>; db: Db }
  | { kind: 'route'; name: string; description?: undefined; labels: Record<string, string>; route: Route };

type Load = { state: 'loading' } | { state: 'loaded'; resources: Resource[]; failed: { kind: Kind; error: ApiError }[] };

/** Where the lists come from and what the actions lead to: the console's own proxy, or (in Connect) a cluster's. */
export interface ResourceSource {
  lists: typeof resourcesApi;
  /** Prefix of web apps' Launch links (`https://proxy:port` in Connect; the console's links are its own). */
  launchBase?: string;
  /** Whether SSH nodes get "Connect as" buttons to the browser terminal (the console has one). */
  terminal: boolean;
  /** Lists again this often (Connect keeps its list live); the console lists on demand. */
  refreshEveryMs?: number;
  /** In Connect: opens a terminal tab with SSH to a node as a login. */
  sshTab?: (node: string, login: string) => void;
  /** In Connect: starts a local gateway to a database (as a db user, in a db name), a TCP app or a route. */
  gateway?: (kind: 'db' | 'app' | 'route', target: string, db?: { user?: string; name?: string }) => Promise<void>;
}

const CONSOLE: ResourceSource = { lists: resourcesApi, terminal: true };

/**
 * Everything the signed-in person may reach now, in one list: web and TCP apps, SSH nodes,
 * databases and TCP routes (the server lists only what is online and what their roles allow).
 * Each has the action that fits: Launch for a web app, the command to copy for the rest.
 */
export function Resources({ source = CONSOLE }: { source?: ResourceSource }) {
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  const [query, setQuery] = useState('');
  const [only, setOnly] = useState<Kind>();
  const heading = useRef<HTMLHeadingElement>(null);
  const searchId = useId();

  const refresh = useCallback(async () => {
    setLoad((l) => (l.state === 'loaded' ? l : { state: 'loading' }));
    // Each list on its own: one that fails leaves the others shown, with its error above them.
    const { lists } = source;
    const [apps, nodes, dbs, routes] = await Promise.allSettled([lists.apps(), lists.nodes(), lists.databases(), lists.routes()]);
    const resources: Resource[] = [
      ...(apps.status === 'fulfilled' ? apps.value.apps.map((app) => ({ kind: 'app' as const, name: app.name, description: app.description, labels: app.labels, app })) : []),
      ...(nodes.status === 'fulfilled' ? nodes.value.nodes.map((node) => ({ kind: 'node' as const, name: node.name, description: node.description, labels: node.labels, node })) : []),
      ...(dbs.status === 'fulfilled' ? dbs.value.databases.map((db) => ({ kind: 'db' as const, name: db.name, description: db.description, labels: db.labels, db })) : []),
      ...(routes.status === 'fulfilled' ? routes.value.routes.map((route) => ({ kind: 'route' as const, name: route.authority, labels: route.labels, route })) : []),
    ];
    const failed = (
      [
        ['app', apps],
        ['node', nodes],
        ['db', dbs],
        ['route', routes],
      ] as const
    ).flatMap(([kind, r]) => (r.status === 'rejected' ? [{ kind, error: asApiError(r.reason) }] : []));
    setLoad({ state: 'loaded', resources: resources.sort((a, b) => a.name.localeCompare(b.name)), failed });
  }, [source]);

  useEffect(() => {
    void refresh();
    if (!source.refreshEveryMs) return;
    const timer = setInterval(() => void refresh(), source.refreshEveryMs);
    return () => clearInterval(timer);
  }, [refresh, source.refreshEveryMs]);

  useEffect(() => heading.current?.focus({ preventScroll: true }), []);

  const all = load.state === 'loaded' ? load.resources : [];
  const counts = useMemo(() => Object.fromEntries(KINDS.map(({ kind }) => [kind, all.filter((r) => r.kind === kind).length])) as Record<Kind, number>, [all]);
  const shown = useMemo(() => all.filter((r) => (!only || r.kind === only) && matches(r, query)), [all, only, query]);
  const filtered = query.trim() !== '' || only !== undefined;

  return (
    <section className="apps" aria-labelledby="resources-title">
      <div className="apps-head">
        <h1 id="resources-title" ref={heading} tabIndex={-1}>
          Resources
        </h1>
        <button type="button" className="button subtle" onClick={() => void refresh()}>
          Refresh
        </button>
      </div>

      {load.state === 'loading' && (
        <p className="status-line" role="status">
          Loading what you may reach…
        </p>
      )}

      {load.state === 'loaded' &&
        load.failed.map(({ kind, error }) => (
          <div className="panel" key={kind}>
            <ErrorBox error={error} title={`Your ${KINDS.find((k) => k.kind === kind)!.noun} could not be listed`} />
          </div>
        ))}

      {load.state === 'loaded' && all.length === 0 && load.failed.length === 0 && (
        <div className="panel empty" data-testid="resources-empty">
          <h2>Nothing is available to you yet</h2>
          <p>
            None of your roles allows an application, SSH node, database or TCP route that is online now. Ask your Postern administrator for a role that covers what you
            need (roles match resources by their labels, such as <code>env=dev</code>), then sign in again.
          </p>
        </div>
      )}

      {all.length > 0 && (
        <>
          <div className="search">
            <label htmlFor={searchId}>Search resources</label>
            <input
              id={searchId}
              type="search"
              placeholder="Name or label, such as env=dev"
              autoComplete="off"
              spellCheck={false}
              value={query}
              onChange={(e) => setQuery(e.target.value)}
            />
          </div>
          <div className="kind-filter" role="group" aria-label="Show">
            <button type="button" className="chip" aria-pressed={only === undefined} onClick={() => setOnly(undefined)}>
              All <span className="chip-count">{all.length}</span>
            </button>
            {KINDS.filter(({ kind }) => counts[kind] > 0).map(({ kind, plural }) => (
              <button key={kind} type="button" className="chip" aria-pressed={only === kind} onClick={() => setOnly(only === kind ? undefined : kind)}>
                {plural} <span className="chip-count">{counts[kind]}</span>
              </button>
            ))}
          </div>
          <p className="count" role="status" aria-live="polite">
            {filtered ? `${shown.length} of ${all.length} resources` : `${all.length} ${all.length === 1 ? 'resource' : 'resources'}`}
          </p>
          {shown.length === 0 ? (
            <div className="panel empty">
              <h2>Nothing matches{query.trim() ? ` “${query.trim()}”` : ''}</h2>
              <p>
                Search looks at names, descriptions, kinds and labels (<code>env=dev</code>, <code>env</code> or <code>dev</code>).{' '}
                <button
                  type="button"
                  className="link-button"
                  onClick={() => {
                    setQuery('');
                    setOnly(undefined);
                  }}
                >
                  Show everything
                </button>
              </p>
            </div>
          ) : (
            <ul className="app-list" aria-label="Resources">
              {shown.map((r) => (
                <ResourceCard key={`${r.kind}:${r.name}`} resource={r} source={source} />
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}

/** Every word of the query must appear in the name, the description, the kind or a label (`key=value`). */
function matches(r: Resource, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const haystack = [r.name, r.description ?? '', kindLabel(r), ...Object.entries(r.labels).flatMap(([k, v]) => [`${k}=${v}`, `${k}:${v}`])].join('\n').toLowerCase();
  return words.every((w) => haystack.includes(w));
}

function kindLabel(r: Resource): string {
  switch (r.kind) {
    case 'app':
      return r.app.type === 'http' ? 'Web app' : 'TCP app';
    case 'node':
      return 'SSH node';
    case 'db':
      return r.db.protocol === 'postgres' ? 'PostgreSQL' : r.db.protocol === 'mysql' ? 'MySQL' : r.db.protocol;
    case 'route':
      return 'TCP route';
  }
}

function ResourceCard({ resource: r, source }: { resource: Resource; source: ResourceSource }) {
  const titleId = useId();
  const data = { [`data-${r.kind}`]: r.name };
  return (
    <li className="app-card" aria-labelledby={titleId} {...data}>
      <div className="app-card-head">
        <h2 id={titleId} className="app-name">
          {r.name}
        </h2>
        <span className={`app-type ${r.kind === 'app' && r.app.type === 'http' ? 'http' : 'tcp'}`}>{kindLabel(r)}</span>
      </div>
      {r.description && <p className="app-description">{r.description}</p>}
      <Labels labels={r.labels} />
      <div className="app-action">{action(r, source)}</div>
    </li>
  );
}

/** What to do with it: Launch a web app; for the rest, the command that connects from one's own machine. */
function action(r: Resource, source: ResourceSource): ReactElement {
  switch (r.kind) {
    case 'app':
      if (r.app.type === 'http' && r.app.launch_url) {
        const inConnect = source.launchBase !== undefined;
        return (
          <a className="button primary" href={`${source.launchBase ?? ''}${r.app.launch_url}`} aria-label={`Launch ${r.name}`} {...(inConnect ? { target: '_blank', rel: 'noopener noreferrer' } : {})}>
            Launch
          </a>
        );
      }
      if (r.app.type === 'tcp' && source.gateway) return <GatewayButton what={r.name} start={() => source.gateway!('app', r.name)} />;
      return r.app.type === 'tcp' ? <CopyCommand command={`postern proxy app ${r.name}`} what={r.name} testId="tcp-command" /> : <p className="hint">This app cannot be launched from the browser.</p>;
    case 'node':
      return (
        <>
          <p className="hint">As {r.node.logins.join(', ')}</p>
          {/* A terminal in this browser, as each allowed login; or OpenSSH on one's own machine. */}
          {source.terminal && <div className="connect-logins">
            {r.node.logins.map((login) => {
              const href = `/web/terminal?${new URLSearchParams({ node: r.name, login })}`;
              return (
                <a
                  key={login}
                  className="button primary small"
                  href={href}
                  aria-label={`Connect to ${r.name} as ${login}`}
                  onClick={(e) => {
                    e.preventDefault();
                    navigate(href);
                  }}
                >
                  Connect as {login}
                </a>
              );
            })}
          </div>}
          {source.sshTab && (
            <div className="connect-logins">
              {r.node.logins.map((login) => (
                <button key={login} type="button" className="button primary small" aria-label={`Open a tab on ${r.name} as ${login}`} onClick={() => source.sshTab!(r.name, login)}>
                  Open a tab as {login}
                </button>
              ))}
            </div>
          )}
          <CopyCommand command={`postern ssh ${r.node.logins[0]}@${r.name}`} what={r.name} testId="ssh-command" />
        </>
      );
    case 'db': {
      const { db } = r;
      if (source.gateway) return <DbGateway db={db} start={(user, name) => source.gateway!('db', db.name, { user, name })} />;
      return (
        <>
          <p className="hint">
            As {db.db_users.join(', ')}
            {db.db_names.length > 0 ? `, in ${db.db_names.join(', ')}` : ''}
          </p>
          <CopyCommand command={`postern db connect ${db.name} --db-user=${db.db_users[0] ?? 'USER'}${db.db_names[0] ? ` --db-name=${db.db_names[0]}` : ''}`} what={db.name} testId="db-command" />
        </>
      );
    }
    case 'route': {
      if (source.gateway) return <GatewayButton what={r.name} start={() => source.gateway!('route', r.name)} />;
      const port = r.route.authority.split(':').pop();
      return <CopyCommand command={`postern tcp --listen 127.0.0.1:${port} ${r.route.authority}`} what={r.name} testId="route-command" />;
    }
  }
}

function GatewayButton({ what, start }: { what: string; start: () => Promise<void> }) {
  const { busy, error, run } = useBusy();
  return (
    <>
      <button type="button" className="button primary small" disabled={busy} aria-label={`Start a gateway to ${what}`} onClick={() => run(start)}>
        Start a gateway
      </button>
      {error && <ErrorBox error={error} />}
    </>
  );
}

/** A database's gateway: which database user (and name) its connection string names. */
function DbGateway({ db, start }: { db: Db; start: (user: string | undefined, name: string | undefined) => Promise<void> }) {
  const [user, setUser] = useState(db.db_users[0] ?? '');
  const [name, setName] = useState(db.db_names[0] ?? '');
  const { busy, error, run } = useBusy();
  return (
    <div className="db-gateway">
      <label>
        Database user
        <select value={user} onChange={(e) => setUser(e.target.value)}>
          {db.db_users.map((u) => (
            <option key={u}>{u}</option>
          ))}
        </select>
      </label>
      {db.db_names.length > 0 && (
        <label>
          Database
          <select value={name} onChange={(e) => setName(e.target.value)}>
            {db.db_names.map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </label>
      )}
      <button type="button" className="button primary small" disabled={busy} aria-label={`Start a gateway to ${db.name}`} onClick={() => run(() => start(user || undefined, name || undefined))}>
        Start a gateway
      </button>
      {error && <ErrorBox error={error} />}
    </div>
  );
}
