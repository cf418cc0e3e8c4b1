import { Fragment, useEffect, useId, useRef, useState, type FormEvent } from 'react';
import type { AuditListArgs } from '../../src/wire/console-api.js';
import type { ApiError } from './api';
import { consoleApi, type AuditEventView } from './console-api';
import { ErrorBox, asApiError } from './errors';
import './console.css';

/** Events per request: the first page, each "Load older", and each look for new ones. */
const PAGE = 100;
/** How often the page asks for events newer than the newest shown. */
const FOLLOW_MS = 2000;

/** The filters as the form holds them; `since` and `until` are datetime-local values (local time). */
interface Filters {
  type: string;
  user: string;
  since: string;
  until: string;
}
const NO_FILTERS: Filters = { type: '', user: '', since: '', until: '' };

/** Fields every event has; the rest are the event type's own. */
const COMMON = new Set(['event', 'code', 'time', 'uid', 'index', 'user', 'remote_addr']);

type Load = { state: 'loading' } | { state: 'ready' } | { state: 'failed'; error: ApiError };

/**
 * The audit log (`/web/audit`): newest first, filtered by type, user and time range, following
 * new events while it is open, with each event's fields on click. The data is the `audit.ls`
 * admin op, so the person's roles must allow `list` on `audit` (auditor, editor).
 */
export function AuditLog() {
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [events, setEvents] = useState<AuditEventView[]>([]);
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  const [more, setMore] = useState(false);
  const [older, setOlder] = useState<'idle' | 'loading' | ApiError>('idle');
  const [follow, setFollow] = useState(true);
  const [followError, setFollowError] = useState<ApiError>();
  const [openIndex, setOpenIndex] = useState<number>();
  /** Events above this index arrived while the page was open: they are highlighted as they appear. */
  const [loadedUpTo, setLoadedUpTo] = useState(0);
  const newest = useRef<AuditEventView | undefined>(undefined);
  newest.current = events[0];

  useEffect(() => {
    let stale = false;
    setLoad({ state: 'loading' });
    setEvents([]);
    setOpenIndex(undefined);
    setOlder('idle');
    consoleApi.auditEvents({ ...argsOf(filters), newest: true, limit: PAGE }).then(
      (page) => {
        if (stale) return;
        setEvents(page);
        setLoadedUpTo(page[0]?.index ?? 0);
        setMore(page.length === PAGE);
        setLoad({ state: 'ready' });
      },
      (err: unknown) => !stale && setLoad({ state: 'failed', error: asApiError(err) }),
    );
    return () => {
      stale = true;
    };
  }, [filters]);

  // A range that ends at a set time has nothing new to follow.
  const following = follow && load.state === 'ready' && !filters.until;
  useEffect(() => {
    if (!following) return;
    let stopped = false;
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      const after = newest.current?.index;
      // Without an event shown, every match is new: none matched when the page loaded.
      consoleApi
        .auditEvents({ ...argsOf(filters), ...(after !== undefined ? { after_index: after } : {}), limit: PAGE })
        .then(
          (found) => {
            if (stopped) return;
            setFollowError(undefined);
            if (found.length) setEvents((shown) => [...found.filter((e) => !shown[0] || e.index > shown[0].index).reverse(), ...shown]);
          },
          (err: unknown) => !stopped && setFollowError(asApiError(err)),
        )
        .finally(() => (busy = false));
    }, FOLLOW_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [following, filters]);

  async function loadOlder() {
    const oldest = events[events.length - 1];
    if (!oldest) return;
    setOlder('loading');
    // audit.ls pages by time: everything up to the oldest event's millisecond, newest first, with
    // room for the events of that millisecond shown already, which the index then leaves out.
    const at = Date.parse(oldest.time);
    const shownThen = events.filter((e) => Date.parse(e.time) <= at).length;
    try {
      const found = await consoleApi.auditEvents({ ...argsOf(filters), until_ms: at + 1, newest: true, limit: PAGE + shownThen });
      setEvents((shown) => [...shown, ...found.filter((e) => e.index < oldest.index).slice(0, PAGE)]);
      setMore(found.length === PAGE + shownThen);
      setOlder('idle');
    } catch (err) {
      setOlder(asApiError(err));
    }
  }

  return (
    <section className="console-page" aria-labelledby="audit-title">
      <div className="console-head">
        <h1 id="audit-title">Audit log</h1>
        {load.state === 'ready' && (
          <label className="console-toggle">
            <input type="checkbox" checked={follow} disabled={Boolean(filters.until)} onChange={(e) => setFollow(e.target.checked)} />
            Follow new events
          </label>
        )}
      </div>
      <p className="hint console-help">
        Who did what, and when: sign-ins, certificates, changes to users and roles, sessions opened and refused. Newest first; click an event to see all its fields.
      </p>
      <AuditFilters applied={filters} onApply={setFilters} />
      {load.state === 'loading' && (
        <p className="status-line" role="status">
          Loading events…
        </p>
      )}
      {load.state === 'failed' && <Refused error={load.error} />}
      {load.state === 'ready' && (
        <>
          <p className="console-live" role="status" data-testid="follow-status">
            {filters.until ? 'The time range has an end, so new events are not followed.' : following ? `Following new events (checked every ${FOLLOW_MS / 1000} seconds).` : 'Not following new events.'}
          </p>
          {followError && <ErrorBox error={followError} title="New events could not be fetched; trying again" />}
          {events.length === 0 ? (
            <div className="panel console-empty">
              <h2>No events</h2>
              <p>{Object.values(filters).every((v) => !v.trim()) ? 'The audit log is empty so far.' : 'No event matches these filters. Widen the time range or clear the filters.'}</p>
            </div>
          ) : (
            <AuditTable events={events} openIndex={openIndex} onToggle={(i) => setOpenIndex((current) => (current === i ? undefined : i))} freshAfter={loadedUpTo} />
          )}
          {more && events.length > 0 && (
            <div className="console-more">
              <button type="button" className="button" onClick={() => void loadOlder()} disabled={older === 'loading'}>
                {older === 'loading' ? 'Loading…' : 'Load older'}
              </button>
            </div>
          )}
          {typeof older === 'object' && <ErrorBox error={older} title="Older events could not be loaded" />}
        </>
      )}
    </section>
  );
}

/** The form's values as audit.ls arguments. */
function argsOf(f: Filters): AuditListArgs {
  const user = f.user.trim();
  return {
    ...(f.type ? { types: [f.type] } : {}),
    ...(user ? { user } : {}),
    ...(f.since ? { since_ms: new Date(f.since).getTime() } : {}),
    ...(f.until ? { until_ms: new Date(f.until).getTime() } : {}),
  };
}

/** The filters, applied together (so typing a user name does not query at each key). */
function AuditFilters({ applied, onApply }: { applied: Filters; onApply: (f: Filters) => void }) {
  const [draft, setDraft] = useState(applied);
  const [types, setTypes] = useState<{ event: string; code: string }[] | ApiError>([]);
  const ids = { type: useId(), user: useId(), since: useId(), until: useId() };
  useEffect(() => {
    consoleApi.auditTypes().then(
      (r) => setTypes(r.types),
      (err: unknown) => setTypes(asApiError(err)),
    );
  }, []);
  const set = (field: keyof Filters) => (e: { target: { value: string } }) => setDraft((d) => ({ ...d, [field]: e.target.value }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onApply({ ...draft });
  };
  return (
    <form className="console-filters" aria-label="Filter events" onSubmit={submit}>
      <div className="field">
        <label htmlFor={ids.type}>Event type</label>
        <select id={ids.type} value={draft.type} onChange={set('type')}>
          <option value="">All types</option>
          {Array.isArray(types) &&
            types.map((t) => (
              <option key={t.event} value={t.event}>
                {t.event} ({t.code})
              </option>
            ))}
        </select>
        {!Array.isArray(types) && <p className="hint">The list of types could not be loaded: {types.message}</p>}
      </div>
      <div className="field">
        <label htmlFor={ids.user}>User</label>
        <input id={ids.user} value={draft.user} onChange={set('user')} autoComplete="off" spellCheck={false} placeholder="Any user" />
      </div>
      <div className="field">
        <label htmlFor={ids.since}>Since</label>
        <input id={ids.since} type="datetime-local" value={draft.since} onChange={set('since')} />
      </div>
      <div className="field">
        <label htmlFor={ids.until}>Until</label>
        <input id={ids.until} type="datetime-local" value={draft.until} onChange={set('until')} />
      </div>
      <div className="console-filter-actions">
        <button type="submit" className="button primary">
          Apply filters
        </button>
        <button
          type="button"
          className="button subtle"
          onClick={() => {
            setDraft(NO_FILTERS);
            onApply(NO_FILTERS);
          }}
        >
          Clear
        </button>
      </div>
    </form>
  );
}

function AuditTable({ events, openIndex, onToggle, freshAfter }: { events: AuditEventView[]; openIndex: number | undefined; onToggle: (index: number) => void; freshAfter: number }) {
  const base = useId();
  return (
    <div className="console-table-wrap">
      <table className="console-table audit-table">
        <caption className="visually-hidden">Audit events, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Event</th>
            <th scope="col">User</th>
            <th scope="col">From</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => {
            const open = e.index === openIndex;
            const detailId = `${base}-${e.index}`;
            return (
              <Fragment key={e.index}>
                <tr className={`audit-row${e.index > freshAfter ? ' fresh' : ''}${open ? ' open' : ''}`} data-event={e.event} data-index={e.index} onClick={() => onToggle(e.index)}>
                  <td>
                    {/* The button is what keyboards and screen readers use; a click anywhere on the row does the same. */}
                    <button type="button" className="link-button audit-toggle" aria-expanded={open} aria-controls={detailId} onClick={(ev) => (ev.stopPropagation(), onToggle(e.index))}>
                      <time dateTime={e.time}>{new Date(e.time).toLocaleString()}</time>
                    </button>
                  </td>
                  <td>
                    <code>{e.event}</code>
                    <span className={`audit-code${e.code.endsWith('W') ? ' warn' : ''}`}>{e.code}</span>
                  </td>
                  <td>{e.user ?? <span className="muted">none</span>}</td>
                  <td>{e.remote_addr ?? <span className="muted">none</span>}</td>
                  <td className="audit-summary">{summary(e)}</td>
                </tr>
                {open && (
                  <tr className="audit-detail" id={detailId}>
                    <td colSpan={5}>
                      <EventFields event={e} />
                    </td>
                  </tr>
                )}
              </Fragment>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** Every field of an event, the common ones first. */
function EventFields({ event }: { event: AuditEventView }) {
  const ordered = [...[...COMMON].filter((k) => k in event), ...Object.keys(event).filter((k) => !COMMON.has(k))];
  return (
    <dl className="audit-fields" aria-label={`Fields of ${event.event} event ${event.index}`}>
      {ordered.map((key) => {
        const value = event[key];
        return (
          <div key={key} className="audit-field">
            <dt>{key}</dt>
            <dd>{typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : <pre>{JSON.stringify(value, null, 2)}</pre>}</dd>
          </div>
        );
      })}
    </dl>
  );
}

/** The event type's own fields on one line: `resource=web-1 reason=…`. */
function summary(e: AuditEventView): string {
  return Object.entries(e)
    .filter(([k, v]) => !COMMON.has(k) && v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

/** Why the log cannot be shown: for a refusal, which role would allow it. */
function Refused({ error }: { error: ApiError }) {
  if (error.code !== 'ACCESS_DENIED') return <ErrorBox error={error} title="The audit log could not be loaded" />;
  return (
    <div className="panel console-denied" data-testid="audit-denied">
      <h2>You may not read the audit log</h2>
      <p>
        Reading it needs a role whose admin rules allow <code>list</code> on <code>audit</code>. The built-in <strong>auditor</strong> role grants it (read only), and so does{' '}
        <strong>editor</strong>. Ask an administrator for one of them.
      </p>
      <ErrorBox error={error} />
    </div>
  );
}
