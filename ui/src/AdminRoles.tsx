import { useEffect, useRef, useState } from 'react';
import { lineProblems, type LineProblem } from '../../src/wire/role-problems.js';
import { ApiError } from './api';
import { adminApi, type RoleDocument } from './admin-api';
import { ConfirmDialog, ListState, OutcomeLine, useList, type Outcome } from './AdminParts';
import { ConsoleTable, None, RowButton } from './console-parts';
import { ErrorBox, asApiError } from './errors';

/** What "New role" starts from: the smallest useful role, in the form docs/roles.md describes. */
const NEW_ROLE = `kind: role
version: v1
metadata:
  name: new-role
  description: ""
spec:
  allow:
    app_labels: { env: dev }
    logins: ["{{internal.logins}}"]
  deny: {}
`;

/** The role being edited: a new one, or one loaded by name (still loading: no text yet). */
type Editing = { name?: string; text?: string; loadError?: ApiError };

/** Roles: the list, a YAML editor to create or change one, and delete. */
export function AdminRoles() {
  const [roles, refresh] = useList(adminApi.roles);
  const [outcome, setOutcome] = useState<Outcome>();
  const [editing, setEditing] = useState<Editing>();
  const [deleting, setDeleting] = useState<string>();

  function edit(name?: string) {
    setOutcome(undefined);
    if (!name) return setEditing({ text: NEW_ROLE });
    setEditing({ name });
    adminApi.roleYaml(name).then(
      (r) => setEditing({ name, text: r.yaml }),
      (err: unknown) => setEditing({ name, loadError: asApiError(err) }),
    );
  }

  return (
    <>
      <div className="admin-section-head">
        <h2>Roles</h2>
        {Array.isArray(roles) && (
          <button type="button" className="button" onClick={() => edit()}>
            New role
          </button>
        )}
      </div>
      <p className="hint console-help">Built-in roles cannot be changed or deleted: the server refuses, and says why.</p>
      <OutcomeLine outcome={outcome} />
      {editing && (
        <RoleEditor
          key={editing.name ?? ''}
          editing={editing}
          onClose={() => setEditing(undefined)}
          onSaved={(text) => {
            setOutcome({ ok: true, text });
            setEditing(undefined);
            void refresh();
          }}
        />
      )}
      <ListState list={roles} what="roles" empty={<p>No roles. Make one with New role.</p>}>
        {(rows) => <RoleTable rows={rows} onEdit={edit} onDelete={setDeleting} />}
      </ListState>
      {deleting && (
        <ConfirmDialog
          title={`Delete the role ${deleting}?`}
          confirm="Delete role"
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            await adminApi.removeRole(deleting);
            setOutcome({ ok: true, text: `The role ${deleting} was deleted.` });
            await refresh();
          }}
        >
          <p>Users who hold it lose what it grants at once.</p>
        </ConfirmDialog>
      )}
    </>
  );
}

function RoleTable({ rows, onEdit, onDelete }: { rows: RoleDocument[]; onEdit: (name: string) => void; onDelete: (name: string) => void }) {
  return (
    <ConsoleTable caption="Roles" columns={['Name', 'Description']} actions>
      {rows.map(({ metadata: { name, description } }) => (
        <tr key={name} data-role={name}>
          <td>
            <code>{name}</code>
          </td>
          <td>{description ?? <None />}</td>
          <td className="admin-row-actions">
            <RowButton label={`Edit the role ${name}`} onClick={() => onEdit(name)}>
              Edit
            </RowButton>
            <RowButton danger label={`Delete the role ${name}`} onClick={() => onDelete(name)}>
              Delete
            </RowButton>
          </td>
        </tr>
      ))}
    </ConsoleTable>
  );
}

/**
 * The YAML editor: a plain textarea with line numbers, and the server's refusal at its lines.
 * The role is sent as text, so the server's message numbers each problem's line
 * (src/wire/role-problems.ts); those lines are marked in the gutter and behind the text, with the
 * message beside the line, and listed under the editor for screen readers.
 */
function RoleEditor({ editing, onClose, onSaved }: { editing: Editing; onClose: () => void; onSaved: (text: string) => void }) {
  const [text, setText] = useState(editing.text);
  const [refusal, setRefusal] = useState<ApiError>();
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  const mirror = useRef<HTMLDivElement>(null);

  useEffect(() => setText(editing.text), [editing.text]);
  useEffect(() => heading.current?.focus(), []);

  const problems = refusal ? lineProblems(refusal.message) : [];
  const byLine = new Map<number, string[]>();
  for (const p of problems) byLine.set(p.line, [...(byLine.get(p.line) ?? []), p.text]);

  async function save() {
    if (text === undefined) return;
    setBusy(true);
    setRefusal(undefined);
    try {
      const r = await adminApi.saveRole(text);
      onSaved(`The role ${r.name} was ${r.result}.`);
    } catch (err) {
      setRefusal(asApiError(err));
      setBusy(false);
    }
  }

  /** Keeps the line numbers and the marks in step with the text as it scrolls. */
  function follow() {
    const t = area.current;
    if (!t) return;
    if (gutter.current) gutter.current.scrollTop = t.scrollTop;
    if (mirror.current) mirror.current.style.transform = `translate(${-t.scrollLeft}px, ${-t.scrollTop}px)`;
  }

  /** Puts the cursor at the start of a line, from the list of problems. */
  function goTo(line: number) {
    const t = area.current;
    if (!t || text === undefined) return;
    const at = text.split('\n').slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    t.focus();
    t.setSelectionRange(at, at);
  }

  const lines = (text ?? '').split('\n');
  const title = editing.name ? `Edit the role ${editing.name}` : 'New role';
  return (
    <section className="panel admin-editor" aria-labelledby="role-editor-title">
      <h3 id="role-editor-title" ref={heading} tabIndex={-1}>
        {title}
      </h3>
      <p className="hint">
        The role as <code>postern ctl get role</code> prints it (docs/roles.md describes every field). Saving a different <code>metadata.name</code> makes a new role.
      </p>
      {editing.loadError && <ErrorBox error={editing.loadError} title={`The role ${editing.name} could not be loaded`} />}
      {text === undefined && !editing.loadError && (
        <p className="status-line" role="status">
          Loading the role…
        </p>
      )}
      {text !== undefined && (
        <>
          <label htmlFor="role-yaml">Role (YAML)</label>
          <div className="yaml-editor">
            <div className="yaml-gutter" ref={gutter} aria-hidden="true">
              {lines.map((_, i) => (
                <div key={i} className={byLine.has(i + 1) ? 'yaml-bad' : undefined}>
                  {i + 1}
                </div>
              ))}
            </div>
            <div className="yaml-body">
              <div className="yaml-mirror" ref={mirror} aria-hidden="true">
                {lines.map((line, i) => (
                  <div key={i} className={`yaml-line${byLine.has(i + 1) ? ' yaml-bad' : ''}`} data-line={i + 1}>
                    <span className="yaml-text">{line}</span>
                    {byLine.has(i + 1) && <span className="yaml-problem">{byLine.get(i + 1)!.join('; ')}</span>}
                  </div>
                ))}
              </div>
              <textarea
                id="role-yaml"
                ref={area}
                value={text}
                wrap="off"
                spellCheck={false}
                autoCapitalize="off"
                autoComplete="off"
                rows={Math.min(Math.max(lines.length + 1, 12), 30)}
                aria-invalid={refusal ? true : undefined}
                aria-describedby={problems.length > 0 ? 'role-problems' : undefined}
                onScroll={follow}
                onChange={(e) => setText(e.target.value)}
              />
            </div>
          </div>
          {refusal && <Refusal refusal={refusal} problems={problems} goTo={goTo} />}
          <div className="admin-actions">
            <button type="button" className="button" onClick={onClose}>
              Cancel
            </button>
            <button type="button" className="button primary" disabled={busy} onClick={() => void save()}>
              {busy ? 'Saving…' : 'Save role'}
            </button>
          </div>
        </>
      )}
    </section>
  );
}

/** The refusal: its problems by line, each a link to the line; anything else as the server said it. */
function Refusal({ refusal, problems, goTo }: { refusal: ApiError; problems: LineProblem[]; goTo: (line: number) => void }) {
  if (problems.length === 0) return <ErrorBox error={refusal} title="The role was not saved" />;
  return (
    <div className="error" role="alert" id="role-problems" data-testid="role-problems">
      <p className="error-title">The role was not saved: {problems.length === 1 ? 'one problem' : `${problems.length} problems`}</p>
      <ul className="yaml-problems">
        {problems.map((p, i) => (
          <li key={i} data-line={p.line}>
            <button type="button" className="link-button" onClick={() => goTo(p.line)}>
              Line {p.line}
            </button>
            : {p.text}
          </li>
        ))}
      </ul>
      <p className="error-meta">{refusal.code}</p>
    </div>
  );
}
