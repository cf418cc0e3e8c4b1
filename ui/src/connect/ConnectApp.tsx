import { useCallback, useEffect, useMemo, useState, type FormEvent } from 'react';
import type { ApiError } from '../api';
import { ErrorBox, asApiError } from '../errors';
import { Resources } from '../Resources';
import { useBusy } from '../use-busy';
import { useWindowValue } from '../use-window-value';
import { clusterSource, connectApi, type ConnectCluster, type ConnectGateway, type ConnectStatus, type ConnectTerminal, type TerminalSpec } from './connect-api';
import { TerminalTab } from './TerminalTabs';
import { Gateways } from './Gateways';
import './connect.css';

type Start = { state: 'starting' } | { state: 'ready'; status: ConnectStatus } | { state: 'failed'; error: ApiError };

/**
 * Postern Connect's page, served by the daemon on loopback (`postern connect`): the clusters of
 * the CLI's profile store in a list, adding one by address and pin, logging in and out, and for
 * the chosen cluster everything it lets the person reach (the console's resource list).
 */
/** What the page follows from the daemon, every POLL_MS: the clusters (a login in the CLI shows here), gateways and tabs. */
interface Followed {
  clusters: ConnectCluster[];
  gateways: ConnectGateway[];
  tabs: ConnectTerminal[];
}
const POLL_MS = 2000;

/**
 * Postern Connect's page, served by the daemon on loopback (`postern connect`): the clusters of
 * the CLI's profile store as a tree (each with its open tabs and gateways), adding one by address
 * and pin, logging in and out, and for the chosen cluster everything it lets the person reach
 * (the console's resource list), its gateways and its terminal tabs. It follows the daemon every
 * two seconds, and says so when this device goes offline or the daemon stops answering; nothing
 * it shows is lost meanwhile.
 */
export function ConnectApp() {
  const [start, setStart] = useState<Start>({ state: 'starting' });
  const [followed, setFollowed] = useState<Followed>({ clusters: [], gateways: [], tabs: [] });
  const [chosen, setChosen] = useState<string>();
  const [active, setActive] = useState<string>('resources');
  const [adding, setAdding] = useState(false);
  const [daemonLost, setDaemonLost] = useState<ApiError>();
  const online = useOnline();

  const reload = useCallback(async (choose?: string) => {
    const [{ clusters }, { gateways }, { terminals }] = await Promise.all([connectApi.clusters(), connectApi.gateways(), connectApi.terminals()]);
    setFollowed({ clusters, gateways, tabs: terminals });
    setDaemonLost(undefined);
    setChosen((was) => choose ?? (clusters.some((c) => c.name === was) ? was : (clusters.find((c) => c.current) ?? clusters[0])?.name));
    if (clusters.length === 0) setAdding(true);
  }, []);

  useEffect(() => {
    void (async () => {
      try {
        // The launch token rides in the fragment (never sent to any server): traded once for the cookie, then dropped from the address bar.
        const token = new URLSearchParams(window.location.hash.slice(1)).get('token');
        if (token) {
          await connectApi.session(token);
          history.replaceState(null, '', window.location.pathname);
        }
        const status = await connectApi.status();
        await reload();
        setStart({ state: 'ready', status });
      } catch (err) {
        setStart({ state: 'failed', error: asApiError(err) });
      }
    })();
  }, [reload]);

  // Followed: gateways and tabs restored at the daemon's start come up, a login or logout in the
  // CLI shows, an expired certificate asks to log in; a daemon that stops answering is said once.
  useEffect(() => {
    if (start.state !== 'ready') return;
    const timer = setInterval(() => void reload().catch((err: unknown) => setDaemonLost(asApiError(err))), POLL_MS);
    return () => clearInterval(timer);
  }, [start.state, reload]);

  const { clusters, gateways, tabs } = followed;
  const cluster = clusters.find((c) => c.name === chosen);
  // A new tab is listed and shown in one render: an xterm opened while hidden has no size to draw with.
  const opened = useCallback((tab: ConnectTerminal) => {
    setFollowed((f) => ({ ...f, tabs: [...f.tabs.filter((t) => t.id !== tab.id), tab] }));
    setActive(tab.id);
  }, []);
  const choose = (name: string, tab = 'resources') => {
    setChosen(name);
    setActive(tab);
    setAdding(false);
  };

  return (
    <div className="shell connect">
      <header className="topbar">
        <span className="brand">
          <span className="brand-mark" aria-hidden="true" />
          Postern Connect
        </span>
        {start.state === 'ready' && <span className="topbar-note">profiles in {start.status.home}</span>}
      </header>
      {start.state === 'ready' && start.status.insecure && (
        <p className="insecure-banner" role="alert">
          Started with --insecure: the proxies' certificates are not checked. Use this only with a test cluster.
        </p>
      )}
      {!online && (
        <p className="offline-banner" role="alert" data-testid="offline-banner">
          This device is offline. Gateways keep listening and tabs stay open; connections to clusters fail until the network is back, and everything here picks up again by itself.
        </p>
      )}
      {online && daemonLost && (
        <p className="offline-banner" role="alert" data-testid="daemon-lost">
          Postern Connect's daemon does not answer ({daemonLost.message}). If you stopped it, run <code>postern connect</code> again: your tabs and gateways come back.
        </p>
      )}
      {start.state === 'starting' && (
        <p className="status-line" role="status">
          Starting…
        </p>
      )}
      {start.state === 'failed' && (
        <main className="connect-main">
          <ErrorBox error={start.error} title="Postern Connect could not start this page" />
        </main>
      )}
      {start.state === 'ready' && (
        <div className="connect-body">
          <ClusterTree clusters={clusters} gateways={gateways} tabs={tabs} chosen={adding ? undefined : chosen} active={active} onChoose={choose} onAdd={() => setAdding(true)} />
          <main className="connect-main">
            {adding || !cluster ? (
              <AddCluster
                onAdded={async (added) => {
                  setAdding(false);
                  await reload(added.name);
                }}
              />
            ) : cluster.status === 'logged-out' ? (
              <LoginForm cluster={cluster} onLoggedIn={() => reload(cluster.name)} onForgotten={() => reload()} />
            ) : (
              <>
                {/* An expired login is asked for above the cluster's tabs and gateways, which stay as they are and go on after it. */}
                {cluster.status === 'expired' && <LoginForm cluster={cluster} onLoggedIn={() => reload(cluster.name)} />}
                <ClusterView
                  key={cluster.name}
                  cluster={cluster}
                  gateways={gateways.filter((g) => g.cluster === cluster.name)}
                  tabs={tabs.filter((t) => t.cluster === cluster.name)}
                  active={active}
                  setActive={setActive}
                  onOpened={opened}
                  onChanged={() => reload(cluster.name)}
                />
              </>
            )}
          </main>
        </div>
      )}
    </div>
  );
}

/** navigator.onLine, followed. */
function useOnline(): boolean {
  return useWindowValue(readOnline, ONLINE_EVENTS);
}
const readOnline = () => navigator.onLine;
const ONLINE_EVENTS = ['online', 'offline'] as const;

/** The clusters, each with its open tabs and gateways beneath it: one click goes to any of them. */
function ClusterTree(props: { clusters: ConnectCluster[]; gateways: ConnectGateway[]; tabs: ConnectTerminal[]; chosen: string | undefined; active: string; onChoose: (cluster: string, tab?: string) => void; onAdd: () => void }) {
  const { clusters, gateways, tabs, chosen, active, onChoose } = props;
  return (
    <nav className="cluster-list" aria-label="Clusters">
      <h2>Clusters</h2>
      <ul>
        {clusters.map((c) => {
          const here = c.name === chosen;
          const ownTabs = tabs.filter((t) => t.cluster === c.name);
          const ownGateways = gateways.filter((g) => g.cluster === c.name);
          return (
            <li key={c.name}>
              <button type="button" className="cluster-item" aria-current={here && active === 'resources' ? 'true' : undefined} onClick={() => onChoose(c.name)}>
                <span className="cluster-name">{c.name}</span>
                <span className={`cluster-status ${c.status}`}>{statusText(c)}</span>
              </button>
              {(ownTabs.length > 0 || ownGateways.length > 0) && (
                <ul className="cluster-children" aria-label={`Open in ${c.name}`}>
                  {ownTabs.map((t) => (
                    <li key={t.id}>
                      <button type="button" className="tree-item" aria-current={here && active === t.id ? 'true' : undefined} onClick={() => onChoose(c.name, t.id)}>
                        <span aria-hidden="true">▸ </span>
                        {t.title}
                      </button>
                    </li>
                  ))}
                  {ownGateways.map((g) => (
                    <li key={g.id}>
                      <button type="button" className={`tree-item gateway-${g.problem || g.status === 'failed' ? 'trouble' : 'ok'}`} onClick={() => onChoose(c.name)} aria-label={`Gateway to ${g.target}${g.problem || g.status === 'failed' ? ' (needs attention)' : ''}`}>
                        <span aria-hidden="true">⇄ </span>
                        {g.target}
                        {g.port ? `:${g.port}` : ''}
                      </button>
                    </li>
                  ))}
                </ul>
              )}
            </li>
          );
        })}
      </ul>
      <button type="button" className="button subtle small" onClick={props.onAdd}>
        Add a cluster
      </button>
    </nav>
  );
}

function statusText(c: ConnectCluster): string {
  if (c.status === 'logged-in') return `${c.user}${c.current ? ' · current' : ''}`;
  return c.status === 'expired' ? `${c.user} · certificate expired` : 'not logged in';
}

/** A form that runs one request, showing its error. */
function useSubmit(task: () => Promise<void>): { busy: boolean; error: ApiError | undefined; submit: (e: FormEvent<HTMLFormElement>) => void } {
  const { busy, error, run } = useBusy();
  return {
    busy,
    error,
    submit: (e) => {
      e.preventDefault();
      run(task);
    },
  };
}

function AddCluster({ onAdded }: { onAdded: (c: ConnectCluster) => Promise<void> }) {
  const [proxy, setProxy] = useState('');
  const [pin, setPin] = useState('');
  const { busy, error, submit } = useSubmit(async () => onAdded(await connectApi.add({ proxy: proxy.trim(), ...(pin.trim() ? { ca_pin: pin.trim() } : {}) })));
  return (
    <section className="panel connect-form" aria-labelledby="add-title">
      <h1 id="add-title">Add a cluster</h1>
      <p className="hint">The proxy's address, and the pin of its host CA (`postern start` and `postern ctl status` print it). Leave the pin out for a proxy with a publicly trusted certificate.</p>
      <form onSubmit={submit}>
        <label>
          Proxy address
          <input name="proxy" required placeholder="postern.example.com:443" autoComplete="off" spellCheck={false} value={proxy} onChange={(e) => setProxy(e.target.value)} />
        </label>
        <label>
          CA pin
          <input name="ca_pin" placeholder="sha256:…" autoComplete="off" spellCheck={false} value={pin} onChange={(e) => setPin(e.target.value)} />
        </label>
        {error && <ErrorBox error={error} title="The cluster was not added" />}
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Checking the proxy…' : 'Add'}
        </button>
      </form>
    </section>
  );
}

function LoginForm({ cluster, onLoggedIn, onForgotten }: { cluster: ConnectCluster; onLoggedIn: () => Promise<void>; onForgotten?: () => Promise<void> }) {
  const [user, setUser] = useState(cluster.user ?? '');
  const [password, setPassword] = useState('');
  const [otp, setOtp] = useState('');
  const { busy, error, submit } = useSubmit(async () => {
    await connectApi.login(cluster.name, { user: user.trim(), password, ...(otp.trim() ? { otp: otp.replace(/\s+/g, '') } : {}) });
    await onLoggedIn();
  });
  return (
    <section className="panel connect-form" aria-labelledby="login-title">
      <h1 id="login-title">Log in to {cluster.proxy}</h1>
      {cluster.status === 'expired' && <p className="hint">Your certificate expired; log in again to get a new one.</p>}
      <form onSubmit={submit}>
        <label>
          User
          <input name="user" required autoComplete="username" value={user} onChange={(e) => setUser(e.target.value)} />
        </label>
        <label>
          Password
          <input name="password" type="password" required autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        <label>
          One-time code
          <input name="otp" inputMode="numeric" autoComplete="one-time-code" placeholder="if the cluster asks for one" value={otp} onChange={(e) => setOtp(e.target.value)} />
        </label>
        {error && <ErrorBox error={error} title="Login failed" />}
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
      {onForgotten && <ForgetCluster cluster={cluster} onForgotten={onForgotten} />}
    </section>
  );
}

/** Removes a logged-out cluster from the list (a logged-in one is the CLI's profile too: log out first). */
function ForgetCluster({ cluster, onForgotten }: { cluster: ConnectCluster; onForgotten: () => Promise<void> }) {
  const { busy, error, run } = useBusy();
  return (
    <div className="forget-cluster">
      <button type="button" className="button subtle small" disabled={busy} onClick={() => run(async () => (await connectApi.forget(cluster.name), await onForgotten()))}>
        Remove {cluster.name} from Connect
      </button>
      {error && <ErrorBox error={error} />}
    </div>
  );
}

function ClusterView(props: { cluster: ConnectCluster; gateways: ConnectGateway[]; tabs: ConnectTerminal[]; active: string; setActive: (tab: string) => void; onOpened: (tab: ConnectTerminal) => void; onChanged: () => Promise<void> }) {
  const { cluster, gateways, tabs, active, setActive, onOpened, onChanged } = props;
  const [error, setError] = useState<ApiError>();
  const openTab = useCallback(
    (spec: Omit<TerminalSpec, 'cluster'>) =>
      void connectApi.openTerminal({ cluster: cluster.name, ...spec }).then(onOpened, (err: unknown) => setError(asApiError(err))),
    [cluster.name, onOpened],
  );
  const closeTab = (id: string) =>
    void connectApi.closeTerminal(id).finally(() => {
      setActive('resources');
      void onChanged();
    });
  const source = useMemo(() => clusterSource(cluster, () => void onChanged(), (node, login) => openTab({ kind: 'ssh', node, login })), [cluster.name, cluster.expires]); // eslint-disable-line react-hooks/exhaustive-deps
  const act = (run: () => Promise<unknown>) => () =>
    void run()
      .then(onChanged)
      .catch((err: unknown) => setError(asApiError(err)));
  return (
    <>
      <div className="cluster-head">
        <p>
          <strong>{cluster.user}</strong> on <strong>{cluster.cluster}</strong> ({cluster.proxy}), {cluster.status === 'expired' ? 'expired at' : 'until'} {new Date(cluster.expires!).toLocaleString()}
        </p>
        {!cluster.current && (
          <button type="button" className="button subtle small" onClick={act(() => connectApi.select(cluster.name))}>
            Make current for the CLI
          </button>
        )}
        <button type="button" className="button subtle small" onClick={act(() => connectApi.logout(cluster.name))}>
          Log out
        </button>
      </div>
      {error && <ErrorBox error={error} />}
      <div className="tab-bar" role="tablist" aria-label="Tabs">
        <button type="button" role="tab" aria-selected={active === 'resources'} className="tab" onClick={() => setActive('resources')}>
          Resources
        </button>
        {tabs.map((t) => (
          <span key={t.id} className="tab-with-close">
            <button type="button" role="tab" aria-selected={active === t.id} className="tab" onClick={() => setActive(t.id)}>
              {t.title}
            </button>
            <button type="button" className="tab-close" aria-label={`Close ${t.title}`} onClick={() => closeTab(t.id)}>
              ×
            </button>
          </span>
        ))}
        <button type="button" className="button subtle small" onClick={() => openTab({ kind: 'shell' })}>
          New shell
        </button>
      </div>
      <div hidden={active !== 'resources'}>
        <Gateways gateways={gateways} onChanged={onChanged} openTab={openTab} />
        <Resources key={cluster.name} source={source} />
      </div>
      {tabs.map((t) => (
        <TerminalTab key={t.id} tab={t} shown={active === t.id} />
      ))}
    </>
  );
}
