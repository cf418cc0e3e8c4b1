import { useState } from 'react';
import type { ApiError } from '../api';
import { CopyCommand } from '../CopyCommand';
import { ErrorBox, asApiError } from '../errors';
import { connectApi, type ConnectGateway, type TerminalSpec } from './connect-api';

const KIND = { db: 'Database', app: 'TCP app', route: 'TCP route' } as const;

/**
 * A cluster's gateways: local listeners on loopback ports, each with what to give a client. A
 * gateway that cannot listen (its port taken at the next start, say) shows why, with Retry and a
 * port field; one that listens can move to another port, or go. A database's can open its
 * client (`postern db connect`) in a terminal tab.
 */
export function Gateways({ gateways, onChanged, openTab }: { gateways: ConnectGateway[]; onChanged: () => Promise<void>; openTab: (spec: Omit<TerminalSpec, 'cluster'>) => void }) {
  if (gateways.length === 0) return null;
  return (
    <section className="gateways" aria-labelledby="gateways-title">
      <h2 id="gateways-title">Gateways</h2>
      <ul>
        {gateways.map((g) => (
          <GatewayItem key={g.id} gateway={g} onChanged={onChanged} openTab={openTab} />
        ))}
      </ul>
    </section>
  );
}

function GatewayItem({ gateway: g, onChanged, openTab }: { gateway: ConnectGateway; onChanged: () => Promise<void>; openTab: (spec: Omit<TerminalSpec, 'cluster'>) => void }) {
  const [port, setPort] = useState(String(g.port ?? ''));
  const [error, setError] = useState<ApiError>();
  const act = (run: () => Promise<unknown>) => () =>
    void run()
      .then(onChanged)
      .catch((err: unknown) => setError(asApiError(err)));
  const wanted = port.trim() === '' ? undefined : Number(port);
  return (
    <li className={`gateway ${g.status}`} data-gateway={g.target}>
      <p className="gateway-head">
        <strong>{g.target}</strong> <span className="hint">{KIND[g.kind]}{g.db_user ? ` as ${g.db_user}` : ''}</span>{' '}
        {g.status === 'listening' ? <span className="gateway-address">on {g.address}</span> : <span className="gateway-failed">not listening</span>}
      </p>
      {g.error && <p className={g.status === 'failed' ? 'error-message' : 'hint'} role={g.status === 'failed' ? 'alert' : undefined}>{g.error}</p>}
      {g.problem && (
        <p className="gateway-problem" role="status" data-testid="gateway-problem">
          {g.problem}
        </p>
      )}
      {g.status === 'listening' && g.connection && <CopyCommand command={g.command ?? g.connection} what={`the gateway to ${g.target}`} testId="gateway-connection" intro={g.command ? 'Connect with:' : 'Point your client at:'} />}
      <div className="gateway-actions">
        <label>
          Port
          <input inputMode="numeric" size={6} value={port} onChange={(e) => setPort(e.target.value)} aria-label={`Port of the gateway to ${g.target}`} />
        </label>
        <button type="button" className="button subtle small" onClick={act(() => connectApi.retryGateway(g.id, wanted))}>
          {g.status === 'failed' ? 'Retry' : 'Change port'}
        </button>
        {g.kind === 'db' && (
          // The database's own client in a tab, as `postern db connect` runs it (its own local listener, the same login).
          <button type="button" className="button subtle small" onClick={() => openTab({ kind: 'db', db: g.target, ...(g.db_user ? { db_user: g.db_user } : {}), ...(g.db_name ? { db_name: g.db_name } : {}) })} aria-label={`Open the client of ${g.target} in a tab`}>
            Open in a tab
          </button>
        )}
        <button type="button" className="button subtle small" onClick={act(() => connectApi.removeGateway(g.id))} aria-label={`Remove the gateway to ${g.target}`}>
          Remove
        </button>
      </div>
      {error && <ErrorBox error={error} />}
    </li>
  );
}
