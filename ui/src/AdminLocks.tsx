import { useState, type FormEvent } from 'react';
import { adminApi, type LockView } from './admin-api';
import { ConfirmDialog, ListState, LockFields, OutcomeLine, attempt, lockSentence, lockTarget, useList, type Outcome } from './AdminParts';
import { formatIn, formatWhen } from './time';

/** Locks: who may not connect now, why, and until when; add one on a user or a role, remove one. */
export function AdminLocks() {
  const [locks, refresh] = useList(adminApi.locks);
  const [outcome, setOutcome] = useState<Outcome>();
  const [removing, setRemoving] = useState<LockView>();
  const [kind, setKind] = useState<'user' | 'role'>('user');
  const [name, setName] = useState('');
  const [message, setMessage] = useState('');
  const [ttl, setTtl] = useState('');
  const [busy, setBusy] = useState(false);

  async function add(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    const args = { [kind]: name.trim(), ...(message.trim() ? { message: message.trim() } : {}), ...(ttl ? { ttl_ms: Number(ttl) } : {}) };
    const lock = await attempt(setOutcome, 'The lock could not be added', () => adminApi.addLock(args), lockSentence);
    setBusy(false);
    if (!lock) return;
    setName('');
    setMessage('');
    await refresh();
  }

  const now = new Date();
  return (
    <>
      <h2 className="visually-hidden">Locks</h2>
      {Array.isArray(locks) && (
        <form className="panel admin-form" onSubmit={(e) => void add(e)} aria-labelledby="lock-title">
          <h3 id="lock-title">Add a lock</h3>
          <p className="hint console-help">New connections are refused at once and open ones end within a second. A lock on a role locks everyone who holds it.</p>
          <div className="admin-form-grid">
            <div className="field">
              <label htmlFor="lock-kind">Lock a</label>
              <select id="lock-kind" value={kind} onChange={(e) => setKind(e.target.value as 'user' | 'role')}>
                <option value="user">User</option>
                <option value="role">Role</option>
              </select>
            </div>
            <div className="field">
              <label htmlFor="lock-name">{kind === 'user' ? 'User name' : 'Role name'}</label>
              <input id="lock-name" required value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" spellCheck={false} />
            </div>
          </div>
          <LockFields message={message} setMessage={setMessage} ttl={ttl} setTtl={setTtl} idPrefix="lock" />
          <button type="submit" className="button primary" disabled={busy}>
            {busy ? 'Adding…' : 'Add lock'}
          </button>
        </form>
      )}
      <OutcomeLine outcome={outcome} />
      <ListState list={locks} what="locks" empty={<p>No locks: nobody is locked out.</p>}>
        {(rows) => (
          <div className="console-table-wrap">
            <table className="console-table">
              <caption className="visually-hidden">Locks</caption>
              <thead>
                <tr>
                  <th scope="col">Target</th>
                  <th scope="col">Message</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Created</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.map((l) => (
                  <tr key={l.id} data-lock={l.id} data-target={lockTarget(l)}>
                    <td>{lockTarget(l)}</td>
                    <td>{l.message || <span className="muted">none</span>}</td>
                    <td>
                      {l.expires ? (
                        <>
                          <time dateTime={l.expires}>{formatWhen(new Date(l.expires), now)}</time>
                          <span className="muted"> ({formatIn(new Date(l.expires), now)})</span>
                        </>
                      ) : (
                        <span className="muted">when removed</span>
                      )}
                    </td>
                    <td>
                      <time dateTime={l.created}>{formatWhen(new Date(l.created), now)}</time>
                      <span className="muted"> by {l.created_by}</span>
                    </td>
                    <td className="admin-row-actions">
                      <button type="button" className="button small danger" aria-label={`Remove the lock on ${lockTarget(l)}`} onClick={() => setRemoving(l)}>
                        Remove
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </ListState>
      {removing && (
        <ConfirmDialog
          title={`Remove the lock on ${lockTarget(removing)}?`}
          confirm="Remove lock"
          onClose={() => setRemoving(undefined)}
          onConfirm={async () => {
            await adminApi.removeLock(removing.id);
            setOutcome({ ok: true, text: `The lock on ${lockTarget(removing)} was removed.` });
            await refresh();
          }}
        >
          <p>The {lockTarget(removing)} can connect again at once, as far as other locks and their roles allow.</p>
        </ConfirmDialog>
      )}
    </>
  );
}
