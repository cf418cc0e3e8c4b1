import { lazy, Suspense, useMemo } from 'react';
import { socketUrl } from '../terminal-socket';
import type { ConnectTerminal } from './connect-api';

/** xterm.js is large: loaded with the first tab. */
const TerminalSession = lazy(() => import('../TerminalSession'));

/** One tab's terminal: the daemon's PTY over /api/terminals/ID/socket. */
export function TerminalTab({ tab, shown }: { tab: ConnectTerminal; shown: boolean }) {
  const socket = useMemo(() => () => socketUrl(`/api/terminals/${tab.id}/socket`, {}), [tab.id]);
  // Kept mounted while hidden: its scrollback and process stay as they are.
  return (
    <div hidden={!shown} data-tab={tab.id}>
      <Suspense fallback={<p className="status-line" role="status">Loading the terminal…</p>}>
        <TerminalSession socket={socket} title={tab.title} what={`Terminal: ${tab.title}`} />
      </Suspense>
    </div>
  );
}
