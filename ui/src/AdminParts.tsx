import { useCallback, useEffect, useId, useRef, useState, type ReactNode } from 'react';
import type { LockView } from './admin-api';
import { ApiError } from './api';
import { RowButton } from './console-parts';
import { CopyCommand } from './CopyCommand';
import { ErrorBox, asApiError } from './errors';
import { formatIn, formatWhen } from './time';

/** A section's list: undefined while loading, the error when the call failed. */
export type Listed<T> = T[] | ApiError | undefined;

/** Loads a list with `load` now and on `refresh()` (after each change the section makes). */
export function useList<T>(load: () => Promise<T[]>): [Listed<T>, () => Promise<void>] {
  const [list, setList] = useState<Listed<T>>();
  const refresh = useCallback(
    () =>
      load().then(
        (rows) => setList(rows),
        (err: unknown) => setList(asApiError(err)),
      ),
    [load],
  );
  useEffect(() => void refresh(), [refresh]);
  return [list, refresh];
}

/**
 * A list that is loading, failed, empty or has rows. A refusal (ACCESS_DENIED) says which role
 * grants the rights, with the server's own message under it.
 */
export function ListState<T>({ list, what, empty, children }: { list: Listed<T>; what: string; empty: ReactNode; children: (rows: T[]) => ReactNode }) {
  if (list === undefined) return <p className="status-line" role="status">Loading {what}…</p>;
  if (list instanceof ApiError) {
    if (list.code !== 'ACCESS_DENIED') return <ErrorBox error={list} title={`The ${what} could not be listed`} />;
    return (
      <div className="panel console-denied" data-testid="admin-denied">
        <h2>You need the editor role</h2>
        <p>
          Administration needs a role whose admin <code>rules</code> allow it: the built-in <strong>editor</strong> role allows everything here. Ask an administrator
          for it.
        </p>
        <ErrorBox error={list} />
      </div>
    );
  }
  if (list.length === 0) return <div className="panel console-empty">{empty}</div>;
  return <>{children(list)}</>;
}

/** What the last change did: a sentence for screen readers and eyes, or the server's refusal. */
export type Outcome = { ok: true; text: string } | { ok: false; error: ApiError; title: string } | undefined;

export function OutcomeLine({ outcome }: { outcome: Outcome }) {
  return (
    <>
      <p role="status" className="console-outcome" data-testid="admin-outcome">
        {outcome?.ok ? outcome.text : ''}
      </p>
      {outcome && !outcome.ok && <ErrorBox error={outcome.error} title={outcome.title} />}
    </>
  );
}

/** Runs a change and reports it: `done` says what happened, `title` heads a refusal. */
export async function attempt<R>(setOutcome: (o: Outcome) => void, title: string, change: () => Promise<R>, done: (r: R) => string): Promise<R | undefined> {
  setOutcome(undefined);
  try {
    const r = await change();
    setOutcome({ ok: true, text: done(r) });
    return r;
  } catch (err) {
    setOutcome({ ok: false, error: asApiError(err), title });
    return undefined;
  }
}

/**
 * A modal dialog (the browser's own <dialog>: it keeps focus inside, and Escape closes it) that
 * asks before a change that cannot be undone. Focus starts on Cancel, the safe choice; a refusal
 * is shown inside, so the person can cancel or try again.
 */
export function ConfirmDialog({ title, confirm, onConfirm, onClose, children }: { title: string; confirm: string; onConfirm: () => Promise<void>; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  const headingId = useId();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();
  useEffect(() => {
    const dialog = ref.current;
    dialog?.showModal();
    return () => dialog?.close();
  }, []);
  return (
    <dialog ref={ref} className="admin-dialog" aria-labelledby={headingId} onCancel={onClose}>
      <h2 id={headingId}>{title}</h2>
      {children}
      {error && <ErrorBox error={error} />}
      <div className="admin-actions">
        <button type="button" className="button" autoFocus onClick={onClose}>
          Cancel
        </button>
        <button
          type="button"
          className="button danger"
          disabled={busy}
          onClick={() => {
            setBusy(true);
            onConfirm().then(onClose, (err: unknown) => {
              setError(asApiError(err));
              setBusy(false);
            });
          }}
        >
          {busy ? 'Working…' : confirm}
        </button>
      </div>
    </dialog>
  );
}

/** A secret the server shows once (an invite link, a join token): copy it now or make another. */
export function ShownOnce({ heading, children, value, what, testId }: { heading: string; children: ReactNode; value: string; what: string; testId: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  // Focus comes here so that a screen reader announces the secret that was just made.
  useEffect(() => ref.current?.focus(), [value]);
  return (
    <section className="panel admin-once" aria-labelledby={`${testId}-title`}>
      <h2 id={`${testId}-title`} ref={ref} tabIndex={-1}>
        {heading}
      </h2>
      {children}
      <CopyCommand command={value} what={what} testId={testId} intro={null} />
    </section>
  );
}

/** How long a lock or a token lasts, as the forms offer it. */
export const DURATIONS: readonly { label: string; ms: number }[] = [
  { label: '30 minutes', ms: 30 * 60_000 },
  { label: '1 hour', ms: 3_600_000 },
  { label: '8 hours', ms: 8 * 3_600_000 },
  { label: '1 day', ms: 86_400_000 },
  { label: '7 days', ms: 7 * 86_400_000 },
];

/** The DURATIONS as a select's options, each valued in milliseconds. */
export function DurationOptions() {
  return (
    <>
      {DURATIONS.map((d) => (
        <option key={d.ms} value={d.ms}>
          {d.label}
        </option>
      ))}
    </>
  );
}

/** A row's actions cell with one button, Remove (named for the row by `label`). */
export function RemoveCell({ label, onClick }: { label: string; onClick: () => void }) {
  return (
    <td className="admin-row-actions">
      <RowButton danger label={label} onClick={onClick}>
        Remove
      </RowButton>
    </td>
  );
}

/** A user's traits as labels for Labels (`logins=ubuntu, root`); empty ones grant nothing and are left out. */
export function traitLabels(traits: Record<string, string[]>): Record<string, string> {
  return Object.fromEntries(Object.entries(traits).filter(([, v]) => v.length > 0).map(([k, v]) => [k, v.join(', ')]));
}

/** A lock's message and duration, for the Users section's Lock dialog and the Locks section's form. */
export function LockFields({ message, setMessage, ttl, setTtl, idPrefix }: { message: string; setMessage: (m: string) => void; ttl: string; setTtl: (t: string) => void; idPrefix: string }) {
  return (
    <>
      <div className="field">
        <label htmlFor={`${idPrefix}-message`}>Message</label>
        <input id={`${idPrefix}-message`} aria-describedby={`${idPrefix}-message-hint`} value={message} onChange={(e) => setMessage(e.target.value)} />
        <p className="hint" id={`${idPrefix}-message-hint`}>
          Shown to whoever is refused, so say why and whom to ask.
        </p>
      </div>
      <div className="field admin-narrow-field">
        <label htmlFor={`${idPrefix}-ttl`}>For</label>
        <select id={`${idPrefix}-ttl`} value={ttl} onChange={(e) => setTtl(e.target.value)}>
          <option value="">Until removed</option>
          <DurationOptions />
        </select>
      </div>
    </>
  );
}

/** "user alice", "role dev", "agent 1f…": as `postern ctl get locks` names a target. */
export function lockTarget(l: LockView): string {
  const t = l.target;
  return 'user' in t ? `user ${t.user}` : 'role' in t ? `role ${t.role}` : `agent ${t.agent}`;
}

/** What a new lock does, as a sentence with the expiry in the reader's time: "User paul is locked until 14:03 (in 1 h): …". */
export function lockSentence(l: LockView): string {
  const until = l.expires ? ` until ${formatWhen(new Date(l.expires))} (${formatIn(new Date(l.expires))})` : ' until the lock is removed';
  const who = lockTarget(l);
  return `${who[0]!.toUpperCase()}${who.slice(1)} is locked${until}${l.message ? `: ${l.message}` : ''}.`;
}
