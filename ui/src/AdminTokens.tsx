import { useState, type FormEvent } from 'react';
import { adminApi, type JoinTokenType, type TokenAdded } from './admin-api';
import { ConfirmDialog, DURATIONS, DurationOptions, ListState, OutcomeLine, RemoveCell, ShownOnce, attempt, useList, type Outcome } from './AdminParts';
import { ConsoleTable, ExpiresAt } from './console-parts';
import { formatIn, formatWhen } from './time';

/** What a token lets an agent serve (`postern ctl tokens add --type`); a Record, so a new type fails the build until it is named here. */
const TYPE_LABELS: Record<JoinTokenType, string> = { app: 'Web and TCP apps', ssh: 'SSH nodes', db: 'Databases' };
const TYPES = Object.entries(TYPE_LABELS).map(([type, label]) => ({ type: type as JoinTokenType, label }));

/** Join tokens: single-use, for agents to join the cluster; each is shown once, with its start command. */
export function AdminTokens() {
  const [tokens, refresh] = useList(adminApi.tokens);
  const [outcome, setOutcome] = useState<Outcome>();
  const [made, setMade] = useState<TokenAdded>();
  const [removing, setRemoving] = useState<string>();
  const [types, setTypes] = useState<JoinTokenType[]>(['app']);
  const [ttl, setTtl] = useState(DURATIONS[0]!.ms);
  const [busy, setBusy] = useState(false);

  async function add(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setMade(undefined);
    const r = await attempt(setOutcome, 'The token could not be made', () => adminApi.addToken(types, ttl), (t) => `Token ${t.record.id} was made.`);
    setBusy(false);
    if (!r) return;
    setMade(r);
    await refresh();
  }

  const now = new Date();
  return (
    <>
      <h2 className="visually-hidden">Join tokens</h2>
      {Array.isArray(tokens) && (
        <form className="panel admin-form" onSubmit={(e) => void add(e)} aria-labelledby="token-title">
          <h3 id="token-title">Add a join token</h3>
          <fieldset className="admin-checks">
            <legend>The agent may serve</legend>
            {TYPES.map((t) => (
              <label key={t.type} className="console-toggle">
                <input type="checkbox" checked={types.includes(t.type)} onChange={(e) => setTypes(e.target.checked ? [...types, t.type] : types.filter((x) => x !== t.type))} />
                {t.label} <span className="muted">({t.type})</span>
              </label>
            ))}
          </fieldset>
          <div className="field admin-narrow-field">
            <label htmlFor="token-ttl">Valid for</label>
            <select id="token-ttl" value={ttl} onChange={(e) => setTtl(Number(e.target.value))}>
              <DurationOptions />
            </select>
          </div>
          <button type="submit" className="button primary" disabled={busy || types.length === 0}>
            {busy ? 'Adding…' : 'Add token'}
          </button>
        </form>
      )}
      <OutcomeLine outcome={outcome} />
      {made && <TokenShown made={made} />}
      <ListState list={tokens} what="join tokens" empty={<p>No join tokens. Each one is used up when an agent joins with it, or expires.</p>}>
        {(rows) => (
          <ConsoleTable caption="Join tokens" columns={['ID', 'Type', 'Expires', 'Created by']} actions>
            {rows.map((t) => (
              <tr key={t.id} data-token={t.id}>
                <td>
                  <code>{t.id}</code>
                </td>
                <td>{t.roles.join(', ')}</td>
                <td>
                  <ExpiresAt at={t.expires} now={now} />
                </td>
                <td>{t.created_by}</td>
                <RemoveCell label={`Remove the token ${t.id}`} onClick={() => setRemoving(t.id)} />
              </tr>
            ))}
          </ConsoleTable>
        )}
      </ListState>
      {removing && (
        <ConfirmDialog
          title={`Remove the token ${removing}?`}
          confirm="Remove token"
          onClose={() => setRemoving(undefined)}
          onConfirm={async () => {
            await adminApi.removeToken(removing);
            setOutcome({ ok: true, text: `Token ${removing} was removed.` });
            if (made?.record.id === removing) setMade(undefined);
            await refresh();
          }}
        >
          <p>No agent can join with it any more. Agents that already joined with it stay.</p>
        </ConfirmDialog>
      )}
    </>
  );
}

/** The token, once, and the command that starts an agent with it. */
function TokenShown({ made }: { made: TokenAdded }) {
  const until = new Date(made.record.expires);
  return (
    <ShownOnce heading={`Join token ${made.record.id}`} value={made.start_command} what="the agent start command" testId="token-command">
      <p>
        One use, valid until <time dateTime={made.record.expires}>{formatWhen(until)}</time> ({formatIn(until)}). It is not shown again. The token:
      </p>
      <p>
        <code className="command" data-testid="token-value">
          {made.token}
        </code>
      </p>
      <p>Start an agent with it on the host that reaches the apps, nodes or databases (change the example flags at the end to what it serves):</p>
    </ShownOnce>
  );
}
