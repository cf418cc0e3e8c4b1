import { useCallback, useEffect, useMemo, useState, type FormEvent } from 'react';
import type { ApiError } from '../api';
import { ErrorBox, asApiError } from '../errors';
import { Resources } from '../Resources';
import { useBusy } from '../use-busy';
import { clusterSource, connectApi, type ConnectCluster, type ConnectGateway, type ConnectStatus, type ConnectTerminal } from './connect-api';
import { TerminalTab } from './TerminalTabs';
import { Gateways } from './Gateways';
import './connect.css';

type Start = { state: 'starting' } | { state: 'ready'; status: ConnectStatus } | { state: 'failed'; error: ApiError };

/**
 * Postern Connect's page, served by the daemon on loopback (`postern connect`): the clusters of
 * the CLI's profile store in a list, adding one by address and pin, logging in and out, and for
 * the chosen cluster everything it lets the person reach (the console's resource list).
 */
export function ConnectApp() {
  const [start, setStart] = useState<Start>({ state: 'starting' });
  const [clusters, setClusters] = useState<ConnectCluster[]>([]);
  const [chosen, setChosen] = useState<string>();
  const [adding, setAdding] = useState(false);

  const reload = useCallback(async (choose?: string) => {
    const { clusters: list } = await connectApi.clusters();
    setClusters(list);
    setChosen((was) => choose ?? (list.some((c) => c.name === was) ? was : (list.find((c) => c.current) ?? list[0])?.name));
    if (list.length === 0) setAdding(true);
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

  const cluster = clusters.find((c) => c.name === chosen);

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
          <nav className="cluster-list" aria-label="Clusters">
            <h2>Clusters</h2>
            <ul>
              {clusters.map((c) => (
                <li key={c.name}>
                  <button type="button" className="cluster-item" aria-current={c.name === chosen ? 'true' : undefined} onClick={() => (setChosen(c.name), setAdding(false))}>
                    <span className="cluster-name">{c.name}</span>
                    <span className={`cluster-status ${c.status}`}>{statusText(c)}</span>
                  </button>
                </li>
              ))}
            </ul>
            <button type="button" className="button subtle small" onClick={() => setAdding(true)}>
              Add a cluster
            </button>
          </nav>
          <main className="connect-main">
            {adding || !cluster ? (
              <AddCluster
                onAdded={async (added) => {
                  setAdding(false);
                  await reload(added.name);
                }}
              />
            ) : cluster.status === 'logged-in' ? (
              <ClusterView cluster={cluster} onChanged={() => reload(cluster.name)} />
            ) : (
              <LoginForm cluster={cluster} onLoggedIn={() => reload(cluster.name)} />
            )}
          </main>
        </div>
      )}
    </div>
  );
}

function statusText(c: ConnectCluster): string {
  if (c.status === 'logged-in') return `${c.user}${c.current ? ' · current' : ''}`;
  return c.status === 'expired' ? 'expired: log in' : 'not logged in';
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

function LoginForm({ cluster, onLoggedIn }: { cluster: ConnectCluster; onLoggedIn: () => Promise<void> }) {
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
    </section>
  );
}

function ClusterView({ cluster, onChanged }: { cluster: ConnectCluster; onChanged: () => Promise<void> }) {
  const [gateways, setGateways] = useState<ConnectGateway[]>([]);
  const loadGateways = useCallback(async () => {
    const { gateways: all } = await connectApi.gateways();
    setGateways(all.filter((g) => g.cluster === cluster.name));
  }, [cluster.name]);
  // Followed every 2 s: gateways restored at the daemon's start come up, and a connection's failure shows.
  useEffect(() => {
    const load = () => void loadGateways().catch(() => undefined); // the list shows without them; starting one says what is wrong
    load();
    const timer = setInterval(load, 2000);
    return () => clearInterval(timer);
  }, [loadGateways]);
  const [tabs, setTabs] = useState<ConnectTerminal[]>([]);
  const [active, setActive] = useState<string>('resources');
  const [error, setError] = useState<ApiError>();
  // Followed like the gateways: tabs the daemon opened again at its start come up as they open.
  useEffect(() => {
    const load = () =>
      connectApi.terminals().then(
        ({ terminals }) => setTabs(terminals.filter((t) => t.cluster === cluster.name)),
        () => undefined,
      );
    void load();
    const timer = setInterval(() => void load(), 2000);
    return () => clearInterval(timer);
  }, [cluster.name]);
  const openTab = useCallback(
    (spec: { kind: 'shell' | 'ssh'; node?: string; login?: string }) =>
      void connectApi.openTerminal({ cluster: cluster.name, ...spec }).then(
        (tab) => {
          setTabs((all) => [...all, tab]);
          setActive(tab.id);
        },
        (err: unknown) => setError(asApiError(err)),
      ),
    [cluster.name],
  );
  const closeTab = (id: string) =>
    void connectApi.closeTerminal(id).finally(() => {
      setTabs((all) => all.filter((t) => t.id !== id));
      setActive('resources');
    });
  const source = useMemo(() => clusterSource(cluster, () => void loadGateways(), (node, login) => openTab({ kind: 'ssh', node, login })), [cluster.name, cluster.expires]); // eslint-disable-line react-hooks/exhaustive-deps
  const act = (run: () => Promise<unknown>) => () =>
    void run()
      .then(onChanged)
      .catch((err: unknown) => setError(asApiError(err)));
  return (
    <>
      <div className="cluster-head">
        <p>
          <strong>{cluster.user}</strong> on <strong>{cluster.cluster}</strong> ({cluster.proxy}), until {new Date(cluster.expires!).toLocaleString()}
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
        <Gateways gateways={gateways} onChanged={loadGateways} />
        <Resources key={cluster.name} source={source} />
      </div>
      {tabs.map((t) => (
        <TerminalTab key={t.id} tab={t} shown={active === t.id} />
      ))}
    </>
  );
}
