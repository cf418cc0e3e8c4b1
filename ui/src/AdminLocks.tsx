import { useState, type FormEvent } from 'react';
import { adminApi, type LockView } from './admin-api';
import { ConfirmDialog, ListState, LockFields, OutcomeLine, RemoveCell, attempt, lockSentence, lockTarget, useList, type Outcome } from './AdminParts';
import { ConsoleTable, CreatedBy, ExpiresAt, None } from './console-parts';

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
          <ConsoleTable caption="Locks" columns={['Target', 'Message', 'Expires', 'Created']} actions>
            {rows.map((l) => (
              <tr key={l.id} data-lock={l.id} data-target={lockTarget(l)}>
                <td>{lockTarget(l)}</td>
                <td>{l.message || <None />}</td>
                <td>{l.expires ? <ExpiresAt at={l.expires} now={now} /> : <span className="muted">when removed</span>}</td>
                <td>
                  <CreatedBy at={l.created} by={l.created_by} now={now} />
                </td>
                <RemoveCell label={`Remove the lock on ${lockTarget(l)}`} onClick={() => setRemoving(l)} />
              </tr>
            ))}
          </ConsoleTable>
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
