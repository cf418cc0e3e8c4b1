import { lazy, Suspense, useMemo } from 'react';
import { proxyTerminal } from './terminal-socket';

/** xterm.js is large: loaded only when a terminal is opened, not with every page. */
const TerminalSession = lazy(() => import('./TerminalSession'));

/**
 * An SSH terminal on a node in the browser: /web/terminal?node=web-1&login=root. The proxy signs
 * in to the node with a certificate of its own making for that login, over the same access
 * pipeline as `postern ssh`; the page relays keystrokes and output over a WebSocket
 * (/webapi/terminal), keeps the PTY the size of the window, and says why the session closed.
 */
export function Terminal() {
  const params = new URLSearchParams(window.location.search);
  const node = params.get('node') ?? '';
  const login = params.get('login') ?? '';
  const socket = useMemo(() => proxyTerminal(node, login), [node, login]);
  if (!node || !login) {
    return (
      <section className="panel">
        <h1>Terminal</h1>
        <p className="error" role="alert">
          Open a terminal from a node&apos;s Connect, or as /web/terminal?node=NODE&amp;login=LOGIN.
        </p>
      </section>
    );
  }
  return (
    <Suspense fallback={<p className="status-line" role="status">Loading the terminal…</p>}>
      <TerminalSession socket={socket} title={`${login}@${node}`} what={`Terminal on ${node} as ${login}`} />
    </Suspense>
  );
}
