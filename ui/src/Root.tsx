import { useCallback, useEffect, useRef, useState } from 'react';
import { AccountMenu } from './AccountMenu';
import { api, onUnauthorized, type ApiError, type WhoAmI } from './api';
import { ErrorBox, asApiError } from './errors';
import { Login } from './Login';
import { navigate, usePath } from './nav';
import { navPages, pageFor, type PageSpec } from './pages';

type Session =
  | { state: 'checking' }
  | { state: 'signed-out'; notice?: string }
  | { state: 'signed-in'; me: WhoAmI }
  | { state: 'unavailable'; error: ApiError };

/** The longest a browser timer can wait. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The whole UI: asks who is signed in, then shows the login form or the signed-in pages. Any 401
 * from the API (the session ended, expired or was removed by an administrator) returns here to
 * the login form.
 */
export function Root() {
  const [session, setSession] = useState<Session>({ state: 'checking' });
  const [clusterName, setClusterName] = useState<string>();
  const path = usePath();

  const check = useCallback(async () => {
    setSession({ state: 'checking' });
    try {
      setSession({ state: 'signed-in', me: await api.whoami({ signInOn401: false }) });
    } catch (err) {
      const e = asApiError(err);
      setSession(e.status === 401 ? { state: 'signed-out' } : { state: 'unavailable', error: e });
    }
  }, []);

  useEffect(() => {
    void check();
    api.ping().then(
      (p) => setClusterName(p.cluster_name),
      () => undefined, // the header just goes without the name
    );
  }, [check]);

  useEffect(() => {
    onUnauthorized(() => setSession({ state: 'signed-out', notice: 'Your session has ended. Sign in again to continue.' }));
    return () => onUnauthorized(undefined);
  }, []);

  // Back to the login form when the session runs out, without waiting for a request to fail.
  useEffect(() => {
    if (session.state !== 'signed-in') return;
    const ms = new Date(session.me.expires).getTime() - Date.now();
    if (!(ms < MAX_TIMER_MS)) return;
    const timer = setTimeout(() => setSession({ state: 'signed-out', notice: 'Your session has expired. Sign in again to continue.' }), Math.max(0, ms));
    return () => clearTimeout(timer);
  }, [session]);

  // Signed in: the login page's address becomes /web (the list), and a `?next=` that was not
  // followed (not a path under /web/) is dropped from the address bar.
  useEffect(() => {
    if (session.state !== 'signed-in') return;
    const params = new URLSearchParams(window.location.search);
    if (path !== '/web/login' && !params.has('next')) return;
    params.delete('next');
    const query = params.toString();
    navigate(`${path === '/web/login' ? '/web' : path}${query ? `?${query}` : ''}`, { replace: true });
  }, [session.state, path]);

  const cluster = clusterName ?? (session.state === 'signed-in' ? session.me.cluster_name : undefined);

  useEffect(() => {
    const page = session.state === 'signed-out' ? 'Sign in' : session.state === 'signed-in' ? (pageFor(path)?.title ?? 'Not found') : 'Postern';
    document.title = page === 'Postern' ? 'Postern' : `${page} · ${cluster ?? 'Postern'}`;
  }, [session.state, path, cluster]);

  return (
    <>
      <a className="skip-link" href="#content">
        Skip to content
      </a>
      <header className="topbar">
        <a
          className="brand"
          href="/web"
          onClick={(e) => {
            if (session.state !== 'signed-in') return;
            e.preventDefault();
            navigate('/web');
          }}
        >
          <span className="brand-mark" aria-hidden="true">
            P
          </span>
          Postern
        </a>
        {cluster && (
          <span className="cluster" title={`Cluster ${cluster}`} data-testid="cluster-name">
            <span className="visually-hidden">Cluster </span>
            {cluster}
          </span>
        )}
        {session.state === 'signed-in' && navPages(session.me).length > 1 && <PageNav path={path} pages={navPages(session.me)} />}
        <span className="topbar-spacer" />
        {session.state === 'signed-in' && <AccountMenu me={session.me} onSignedOut={() => setSession({ state: 'signed-out', notice: 'You have signed out.' })} />}
      </header>
      <main id="content" tabIndex={-1}>
        {session.state === 'checking' && <p className="status-line" role="status">Loading…</p>}
        {session.state === 'unavailable' && <Unavailable error={session.error} retry={() => void check()} />}
        {session.state === 'signed-out' && (
          <Login cluster={cluster} {...(session.notice ? { notice: session.notice } : {})} onSignedIn={(me) => setSession({ state: 'signed-in', me })} />
        )}
        {session.state === 'signed-in' && (pageFor(path)?.render(session.me) ?? <NotFound path={path} />)}
      </main>
    </>
  );
}

/** Links to the signed-in pages; the current one is marked for screen readers and styles. */
function PageNav({ path, pages }: { path: string; pages: PageSpec[] }) {
  const current = pageFor(path);
  return (
    <nav className="page-nav" aria-label="Pages">
      {pages.map((p) => (
        <a
          key={p.path}
          href={p.path}
          aria-current={p === current ? 'page' : undefined}
          onClick={(e) => {
            e.preventDefault();
            navigate(p.path);
          }}
        >
          {p.title}
        </a>
      ))}
    </nav>
  );
}

function Unavailable({ error, retry }: { error: ApiError; retry: () => void }) {
  return (
    <section className="panel narrow" aria-labelledby="unavailable-title">
      <h1 id="unavailable-title">{error.code === 'LOCKED' ? 'Your access is locked' : 'Postern did not answer as expected'}</h1>
      <ErrorBox error={error} />
      <button type="button" className="button" onClick={retry}>
        Try again
      </button>
    </section>
  );
}

function NotFound({ path }: { path: string }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  return (
    <section className="panel narrow" aria-labelledby="notfound-title">
      <h1 id="notfound-title" ref={heading} tabIndex={-1}>
        Nothing here
      </h1>
      <p>
        There is no page at <code>{path}</code>.
      </p>
      <p>
        <a
          href="/web"
          onClick={(e) => {
            e.preventDefault();
            navigate('/web');
          }}
        >
          Go to your applications
        </a>
      </p>
    </section>
  );
}
