import { useCallback, useEffect, useId, useMemo, useRef, useState } from 'react';
import { api, type ApiError, type App } from './api';
import { CopyCommand } from './CopyCommand';
import { ErrorBox, asApiError } from './errors';
import { Labels } from './Labels';

type Load = { state: 'loading' } | { state: 'loaded'; apps: App[] } | { state: 'failed'; error: ApiError };

/**
 * The applications the signed-in person may open (the server lists only those online and allowed
 * by their roles). Web apps get a Launch link; TCP apps the command that connects to them.
 */
export function Apps() {
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  const [query, setQuery] = useState('');
  const heading = useRef<HTMLHeadingElement>(null);
  const searchId = useId();

  const refresh = useCallback(async () => {
    setLoad((l) => (l.state === 'loaded' ? l : { state: 'loading' }));
    try {
      const { apps } = await api.apps();
      setLoad({ state: 'loaded', apps: [...apps].sort((a, b) => a.name.localeCompare(b.name)) });
    } catch (err) {
      setLoad({ state: 'failed', error: asApiError(err) });
    }
  }, []);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  useEffect(() => heading.current?.focus({ preventScroll: true }), []);

  const shown = useMemo(() => (load.state === 'loaded' ? load.apps.filter((app) => matches(app, query)) : []), [load, query]);
  const total = load.state === 'loaded' ? load.apps.length : 0;

  return (
    <section className="apps" aria-labelledby="apps-title">
      <div className="apps-head">
        <h1 id="apps-title" ref={heading} tabIndex={-1}>
          Applications
        </h1>
        <button type="button" className="button subtle" onClick={() => void refresh()}>
          Refresh
        </button>
      </div>

      {load.state === 'loading' && (
        <p className="status-line" role="status">
          Loading your applications…
        </p>
      )}

      {load.state === 'failed' && (
        <div className="panel">
          <ErrorBox error={load.error} title="Your applications could not be listed" />
          <button type="button" className="button" onClick={() => void refresh()}>
            Try again
          </button>
        </div>
      )}

      {load.state === 'loaded' && total === 0 && (
        <div className="panel empty" data-testid="apps-empty">
          <h2>No applications are available to you</h2>
          <p>
            None of your roles allows an application that is online now. Ask your Postern administrator for a role that covers the applications you need (roles
            match applications by their labels, such as <code>env=dev</code>), then sign in again.
          </p>
        </div>
      )}

      {load.state === 'loaded' && total > 0 && (
        <>
          <div className="search">
            <label htmlFor={searchId}>Search applications</label>
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
          <p className="count" role="status" aria-live="polite">
            {query.trim() ? `${shown.length} of ${total} ${total === 1 ? 'application' : 'applications'}` : `${total} ${total === 1 ? 'application' : 'applications'}`}
          </p>
          {shown.length === 0 ? (
            <div className="panel empty">
              <h2>No application matches “{query.trim()}”</h2>
              <p>
                Search looks at names, descriptions and labels (<code>env=dev</code>, <code>env</code> or <code>dev</code>).{' '}
                <button type="button" className="link-button" onClick={() => setQuery('')}>
                  Clear the search
                </button>
              </p>
            </div>
          ) : (
            <ul className="app-list" aria-label="Applications">
              {shown.map((app) => (
                <AppCard key={app.name} app={app} />
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}

/** Every word of the query must appear in the name, the description or a label (`key=value`). */
function matches(app: App, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const haystack = [app.name, app.description ?? '', app.type, ...Object.entries(app.labels).flatMap(([k, v]) => [`${k}=${v}`, `${k}:${v}`])].join('\n').toLowerCase();
  return words.every((w) => haystack.includes(w));
}

function AppCard({ app }: { app: App }) {
  const titleId = useId();
  return (
    <li className="app-card" aria-labelledby={titleId} data-app={app.name}>
      <div className="app-card-head">
        <h2 id={titleId} className="app-name">
          {app.name}
        </h2>
        <span className={`app-type ${app.type}`}>{app.type === 'http' ? 'Web app' : 'TCP app'}</span>
      </div>
      {app.description && <p className="app-description">{app.description}</p>}
      <Labels labels={app.labels} />
      <div className="app-action">
        {app.type === 'http' && app.launch_url ? (
          <a className="button primary" href={app.launch_url} aria-label={`Launch ${app.name}`}>
            Launch
          </a>
        ) : app.type === 'tcp' ? (
          <CopyCommand command={`postern proxy app ${app.name}`} what={app.name} testId="tcp-command" />
        ) : (
          <p className="hint">This app cannot be launched from the browser.</p>
        )}
      </div>
    </li>
  );
}
