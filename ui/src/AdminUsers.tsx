import { useState, type FormEvent } from 'react';
import { adminApi, type AdminUser, type InviteLink } from './admin-api';
import { ConfirmDialog, ListState, LockFields, lockSentence, OutcomeLine, ShownOnce, attempt, traitLabels, useList, type Listed, type Outcome } from './AdminParts';
import { Labels } from './Labels';
import { ConsoleTable, CreatedBy, None, RowButton } from './console-parts';
import { formatIn, formatWhen } from './time';

/** A link just made, for whom and why. */
type Shown = { user: string; kind: 'invite' | 'reset'; link: InviteLink };

/** Users: who has which roles and logins; invite, reset, lock and delete. */
export function AdminUsers() {
  const [users, refresh] = useList(adminApi.users);
  const [outcome, setOutcome] = useState<Outcome>();
  const [shown, setShown] = useState<Shown>();
  const [resetting, setResetting] = useState<string>();
  const [locking, setLocking] = useState<string>();
  const [deleting, setDeleting] = useState<string>();

  return (
    <>
      <h2 className="visually-hidden">Users</h2>
      {/* Without the right to list users there is nobody to invite either: the list says why. */}
      {Array.isArray(users) && (
        <InviteForm
          setOutcome={setOutcome}
          onInvited={(user, link) => {
            setShown({ user, kind: 'invite', link });
            void refresh();
          }}
        />
      )}
      <OutcomeLine outcome={outcome} />
      {shown?.link.invite_url && <InviteShown shown={shown} url={shown.link.invite_url} />}
      <UserTable users={users} onReset={setResetting} onLock={setLocking} onDelete={setDeleting} />
      {resetting && (
        <ConfirmDialog
          title={`Reset ${resetting}'s password?`}
          confirm="Reset"
          onClose={() => setResetting(undefined)}
          onConfirm={async () => {
            const link = await adminApi.reset(resetting);
            setOutcome({ ok: true, text: `${resetting} has a new link; the old link and password no longer work.` });
            setShown({ user: resetting, kind: 'reset', link });
          }}
        >
          <p>Their password and any earlier link stop working now, and you get a new one-time link to send them.</p>
        </ConfirmDialog>
      )}
      {locking && (
        <LockDialog
          user={locking}
          onClose={() => setLocking(undefined)}
          onLocked={(text) => setOutcome({ ok: true, text })}
        />
      )}
      {deleting && (
        <ConfirmDialog
          title={`Delete ${deleting}?`}
          confirm="Delete user"
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            const r = await adminApi.removeUser(deleting);
            setOutcome({ ok: true, text: `${r.removed} was deleted.` });
            if (shown?.user === deleting) setShown(undefined);
            await refresh();
          }}
        >
          <p>
            {deleting} can no longer sign in, and their web sessions end now. This cannot be undone; invite them again to give access back.
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}

function InviteShown({ shown, url }: { shown: Shown; url: string }) {
  const until = shown.link.invite_expires ? new Date(shown.link.invite_expires) : undefined;
  return (
    <ShownOnce heading={shown.kind === 'invite' ? `Invite link for ${shown.user}` : `New link for ${shown.user}`} value={url} what={`${shown.user}'s link`} testId="invite-link">
      <p>
        Send this link to {shown.user}: it lets them set a password{shown.link.otp_uri === undefined ? '' : ' and a one-time code app'}, once
        {until && (
          <>
            , until <time dateTime={shown.link.invite_expires}>{formatWhen(until)}</time> ({formatIn(until)})
          </>
        )}
        . It is not shown again.
      </p>
    </ShownOnce>
  );
}

function InviteForm({ onInvited, setOutcome }: { onInvited: (user: string, link: InviteLink) => void; setOutcome: (o: Outcome) => void }) {
  const [roleList] = useList(adminApi.roles);
  const [name, setName] = useState('');
  const [chosen, setChosen] = useState<string[]>(['access']);
  const [logins, setLogins] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    const traits = { logins: logins.split(',').map((l) => l.trim()).filter(Boolean) };
    const added = await attempt(setOutcome, `${name} could not be invited`, () => adminApi.invite({ name: name.trim(), roles: chosen, traits }), (r) => `${r.user.name} was invited.`);
    setBusy(false);
    if (!added) return;
    onInvited(added.user.name, added);
    setName('');
    setLogins('');
  }

  return (
    <form className="panel admin-form" onSubmit={(e) => void submit(e)} aria-labelledby="invite-title">
      <h3 id="invite-title">Invite a user</h3>
      <div className="admin-form-grid">
        <div className="field">
          <label htmlFor="invite-name">Name</label>
          <input id="invite-name" required value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" spellCheck={false} />
        </div>
        <div className="field">
          <label htmlFor="invite-logins">Logins</label>
          <input id="invite-logins" aria-describedby="invite-logins-hint" value={logins} onChange={(e) => setLogins(e.target.value)} autoComplete="off" spellCheck={false} />
          <p className="hint" id="invite-logins-hint">
            OS and app logins, comma-separated (the access role grants them).
          </p>
        </div>
      </div>
      <fieldset className="admin-checks">
        <legend>Roles</legend>
        {roleList === undefined && <span className="muted">Loading roles…</span>}
        {Array.isArray(roleList) &&
          roleList.map((r) => (
            <label key={r.metadata.name} className="console-toggle">
              <input
                type="checkbox"
                checked={chosen.includes(r.metadata.name)}
                onChange={(e) => setChosen(e.target.checked ? [...chosen, r.metadata.name] : chosen.filter((c) => c !== r.metadata.name))}
              />
              {r.metadata.name}
            </label>
          ))}
        {roleList instanceof Error && <span className="muted">The roles could not be listed: {roleList.message}</span>}
      </fieldset>
      <button type="submit" className="button primary" disabled={busy || chosen.length === 0}>
        {busy ? 'Inviting…' : 'Invite'}
      </button>
    </form>
  );
}

function UserTable({ users, onReset, onLock, onDelete }: { users: Listed<AdminUser>; onReset: (n: string) => void; onLock: (n: string) => void; onDelete: (n: string) => void }) {
  const now = new Date();
  return (
    <ListState list={users} what="users" empty={<p>No users yet. Invite one above.</p>}>
      {(rows) => (
        <ConsoleTable caption="Users" columns={['Name', 'Roles', 'Traits', 'Created']} actions>
          {rows.map((u) => (
            <tr key={u.name} data-user={u.name}>
              <td>{u.name}</td>
              <td>{u.roles.join(', ') || <None />}</td>
              <td>
                <Labels labels={traitLabels(u.traits)} />
              </td>
              <td>
                <CreatedBy at={u.created} by={u.created_by} now={now} />
              </td>
              <td className="admin-row-actions">
                <RowButton label={`Reset ${u.name}'s password`} onClick={() => onReset(u.name)}>
                  Reset
                </RowButton>
                <RowButton label={`Lock ${u.name}`} onClick={() => onLock(u.name)}>
                  Lock
                </RowButton>
                <RowButton danger label={`Delete ${u.name}`} onClick={() => onDelete(u.name)}>
                  Delete
                </RowButton>
              </td>
            </tr>
          ))}
        </ConsoleTable>
      )}
    </ListState>
  );
}

/** Locks a user, with a message they will see and for how long. */
function LockDialog({ user, onClose, onLocked }: { user: string; onClose: () => void; onLocked: (text: string) => void }) {
  const [message, setMessage] = useState('');
  const [ttl, setTtl] = useState('');
  return (
    <ConfirmDialog
      title={`Lock ${user}?`}
      confirm="Lock user"
      onClose={onClose}
      onConfirm={async () => {
        const lock = await adminApi.addLock({ user, ...(message.trim() ? { message: message.trim() } : {}), ...(ttl ? { ttl_ms: Number(ttl) } : {}) });
        onLocked(lockSentence(lock));
      }}
    >
      <p>New connections are refused at once and open ones end within a second. Remove the lock under Locks to let {user} back in.</p>
      <LockFields message={message} setMessage={setMessage} ttl={ttl} setTtl={setTtl} idPrefix="user-lock" />
    </ConfirmDialog>
  );
}
