import { useEffect, useId, useRef, useState } from 'react';
import { api, type ApiError, type WhoAmI } from './api';
import { ErrorBox, asApiError } from './errors';
import { navigate } from './nav';
import { formatIn, formatWhen } from './time';

/**
 * The header's account button and the panel it opens: who is signed in, with which roles and
 * logins, when the session ends, and Log out. A disclosure: Escape or a click elsewhere closes it.
 */
export function AccountMenu({ me, onSignedOut }: { me: WhoAmI; onSignedOut: () => void }) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();
  const [now, setNow] = useState(() => new Date());
  const root = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const panelId = useId();
  const expires = new Date(me.expires);

  useEffect(() => {
    if (!open) return;
    setNow(new Date());
    const tick = setInterval(() => setNow(new Date()), 30_000);
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape') return;
      setOpen(false);
      button.current?.focus();
    };
    const onPointer = (e: PointerEvent) => {
      if (!root.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('keydown', onKey);
    document.addEventListener('pointerdown', onPointer);
    return () => {
      clearInterval(tick);
      document.removeEventListener('keydown', onKey);
      document.removeEventListener('pointerdown', onPointer);
    };
  }, [open]);

  async function signOut() {
    setBusy(true);
    setError(undefined);
    try {
      await api.signOut();
    } catch (err) {
      const e = asApiError(err);
      if (e.status !== 401) {
        // Still signed in: say so rather than pretend.
        setError(e);
        setBusy(false);
        return;
      }
    }
    navigate('/web/login', { replace: true });
    onSignedOut();
  }

  return (
    <div className="account" ref={root}>
      <button
        type="button"
        ref={button}
        className="account-button"
        aria-expanded={open}
        aria-controls={panelId}
        onClick={() => setOpen((o) => !o)}
      >
        <span className="avatar" aria-hidden="true">
          {me.username.slice(0, 1).toUpperCase()}
        </span>
        <span className="account-name">{me.username}</span>
        <span className="visually-hidden">: account menu</span>
        <svg className="chevron" aria-hidden="true" viewBox="0 0 12 12" width="12" height="12">
          <path d="M2.5 4.5 6 8l3.5-3.5" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" strokeLinejoin="round" />
        </svg>
      </button>
      <div id={panelId} className="account-panel" hidden={!open} role="region" aria-label="Account">
        <p className="account-who">
          Signed in as <strong data-testid="account-user">{me.username}</strong>
        </p>
        <dl className="facts">
          <dt>Roles</dt>
          <dd>
            {me.roles.length ? (
              <ul className="labels" data-testid="account-roles">
                {me.roles.map((r) => (
                  <li key={r} className="label">
                    {r}
                  </li>
                ))}
              </ul>
            ) : (
              'none'
            )}
          </dd>
          {me.logins.length > 0 && (
            <>
              <dt>Logins</dt>
              <dd>{me.logins.join(', ')}</dd>
            </>
          )}
          <dt>Session ends</dt>
          <dd data-testid="account-expires">
            <time dateTime={me.expires}>{formatWhen(expires, now)}</time> <span className="muted">({formatIn(expires, now)})</span>
          </dd>
        </dl>
        {error && <ErrorBox error={error} title="Could not log out" />}
        <button type="button" className="button wide" onClick={() => void signOut()} disabled={busy}>
          {busy ? 'Logging out…' : 'Log out'}
        </button>
      </div>
    </div>
  );
}
