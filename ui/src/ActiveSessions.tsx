import { useCallback, useEffect, useState } from 'react';
import type { ActiveSessionList } from '../../src/wire/console-api.js';
import { ApiError } from './api';
import { consoleApi, type ActiveSession } from './console-api';
import { ErrorBox, asApiError } from './errors';
import { ConsoleTable, RowButton } from './console-parts';
import { formatWhen } from './time';
import './console.css';

/** How often the list (and its byte counts) is read again. */
const REFRESH_MS = 2000;

/** What each kind of relayed session is, for people. */
const KIND_NAMES: Record<string, string> = { node: 'SSH', app: 'App connection', route: 'TCP route', db: 'Database' };

type Outcome = { ok: true; text: string } | { ok: false; error: ApiError };

/**
 * Active sessions (`/web/sessions`): the relayed connections open now in the proxy process that
 * answers, with bytes each way so far, read again every two seconds; people whose rules allow
 * `delete` on `session` can end one. Listing needs `list` on `session` (auditor, editor).
 */
export function ActiveSessions() {
  const [list, setList] = useState<ActiveSessionList | ApiError>();
  const [ending, setEnding] = useState<string>();
  const [outcome, setOutcome] = useState<Outcome>();

  const refresh = useCallback(
    () =>
      consoleApi.sessions().then(
        (l) => setList(l),
        (err: unknown) => setList(asApiError(err)),
      ),
    [],
  );

  const denied = list instanceof ApiError && list.code === 'ACCESS_DENIED';
  useEffect(() => {
    void refresh();
    // Asking again cannot help someone refused; the page says which role to ask for instead.
    if (denied) return;
    const timer = setInterval(() => void refresh(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [refresh, denied]);

  async function end(s: ActiveSession) {
    setEnding(s.id);
    setOutcome(undefined);
    try {
      await consoleApi.endSession(s.id);
      setOutcome({ ok: true, text: `Ended ${who(s)}'s session to ${s.resource}.` });
    } catch (err) {
      setOutcome({ ok: false, error: asApiError(err) });
    } finally {
      setEnding(undefined);
      await refresh();
    }
  }

  return (
    <section className="console-page" aria-labelledby="sessions-title">
      <div className="console-head">
        <h1 id="sessions-title">Active sessions</h1>
      </div>
      <p className="hint console-help">
        Connections open now: SSH, TCP apps and routes, databases and app WebSockets, with the bytes each way so far (updated every {REFRESH_MS / 1000} seconds). Each
        proxy process lists only the sessions it carries: with several proxies, this page shows those of the one that answered. Ending a session cuts it off at once and
        the audit log records who ended it; the person can connect again unless their access is also taken away (a lock).
      </p>
      <p role="status" className="console-outcome">
        {outcome?.ok ? outcome.text : ''}
      </p>
      {outcome && !outcome.ok && <ErrorBox error={outcome.error} title="The session could not be ended" />}
      {list === undefined && (
        <p className="status-line" role="status">
          Loading sessions…
        </p>
      )}
      {list instanceof ApiError && (denied ? <Refused error={list} /> : <ErrorBox error={list} title="The sessions could not be listed" />)}
      {list !== undefined && !(list instanceof ApiError) && (list.sessions.length === 0 ? <NoSessions /> : <SessionTable list={list} ending={ending} onEnd={(s) => void end(s)} />)}
    </section>
  );
}

function SessionTable({ list, ending, onEnd }: { list: ActiveSessionList; ending: string | undefined; onEnd: (s: ActiveSession) => void }) {
  const now = new Date();
  return (
    <ConsoleTable
      caption="Open sessions, oldest first"
      className="sessions-table"
      columns={[
        'User',
        'Resource',
        'Client',
        'Since',
        <>
          Bytes <span className="muted">(from client / to client)</span>
        </>,
      ]}
      actions={list.can_end}
    >
      {list.sessions.map((s) => (
        <tr key={s.id} data-session={s.id} data-user={s.user ?? ''} data-resource={s.resource} data-bytes-up={s.bytes_up} data-bytes-down={s.bytes_down}>
          <td>{s.user ?? <span className="muted">no identity</span>}</td>
          <td>
            <span className="session-kind">{KIND_NAMES[s.kind] ?? s.kind}</span> <code>{s.resource}</code>
            {asked(s) && <span className="muted"> as {asked(s)}</span>}
          </td>
          <td>
            {s.client_addr}
            <span className="muted"> · {s.via}</span>
          </td>
          <td>
            <time dateTime={s.started}>{formatWhen(new Date(s.started), now)}</time>
            <span className="muted"> · {duration(now.getTime() - Date.parse(s.started))}</span>
          </td>
          <td className="session-bytes">
            <span title={`${s.bytes_up} bytes`}>{formatBytes(s.bytes_up)}</span> / <span title={`${s.bytes_down} bytes`}>{formatBytes(s.bytes_down)}</span>
          </td>
          {list.can_end && (
            <td>
              <RowButton disabled={ending === s.id} label={`End ${who(s)}'s session to ${s.resource}`} onClick={() => onEnd(s)}>
                {ending === s.id ? 'Ending…' : 'End session'}
              </RowButton>
            </td>
          )}
        </tr>
      ))}
    </ConsoleTable>
  );
}

function NoSessions() {
  return (
    <div className="panel console-empty">
      <h2>No open sessions</h2>
      <p>Nobody is connected through this proxy process right now. Sessions appear here as soon as they open.</p>
    </div>
  );
}

function Refused({ error }: { error: ApiError }) {
  return (
    <div className="panel console-denied" data-testid="sessions-denied">
      <h2>You may not see the active sessions</h2>
      <p>
        Listing them needs a role whose admin rules allow <code>list</code> on <code>session</code>: the built-in <strong>auditor</strong> and <strong>editor</strong> roles
        do. Ending one also needs <code>delete</code> on <code>session</code> (<strong>editor</strong>). Ask an administrator for one of them.
      </p>
      <ErrorBox error={error} />
    </div>
  );
}

function who(s: ActiveSession): string {
  return s.user ?? 'an anonymous client';
}

/** The login or database user and name the session asked for. */
function asked(s: ActiveSession): string {
  return [s.login, s.db_user, s.db_name && `database ${s.db_name}`].filter(Boolean).join(', ');
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** "for 42 s", "for 3 min", "for 2 h 5 min". */
function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `for ${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `for ${min} min`;
  return `for ${Math.floor(min / 60)} h ${min % 60} min`;
}
