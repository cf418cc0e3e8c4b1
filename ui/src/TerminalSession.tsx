import { useCallback, useEffect, useRef, useState } from 'react';
import { Terminal as XTerm } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import './terminal.css';
import type { TerminalSocket } from './terminal-socket';

type Status = { state: 'connecting' } | { state: 'connected' } | { state: 'closed'; message: string; refused: boolean };

/** Output drawn since the last acknowledgement; the proxy pauses the shell past 1 MiB not acknowledged. */
const ACK_EVERY = 64 * 1024;
/** The proxy's close codes (src/proxy/ssh/web-terminal.ts): 4003 is a refusal. */
const CLOSE_REFUSED = 4003;

/**
 * The xterm and its WebSocket (the proxy's /webapi/terminal, or a Connect daemon's PTY):
 * keystrokes and pastes go out as binary frames, output is drawn and acknowledged (the other
 * end's flow control), the PTY follows the element's size, and the status line says why the
 * session closed. Loaded only where a terminal is shown.
 */
export default function TerminalSession({ socket, title, what }: { socket: TerminalSocket; title: string; what: string }) {
  const host = useRef<HTMLDivElement>(null);
  const term = useRef<XTerm>(undefined);
  const [status, setStatus] = useState<Status>({ state: 'connecting' });
  const [attempt, setAttempt] = useState(0);
  const [clip, setClip] = useState('');

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const xterm = new XTerm({
      cursorBlink: true,
      fontSize: window.innerWidth < 480 ? 12 : 14,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace",
      scrollback: 5000,
      theme: { background: '#11151c', foreground: '#e6e9ef', cursor: '#ffc247', selectionBackground: '#3b63e0' },
    });
    const fit = new FitAddon();
    xterm.loadAddon(fit);
    xterm.open(el);
    fit.fit();
    term.current = xterm;
    setStatus({ state: 'connecting' });

    const ws = new WebSocket(socket({ cols: xterm.cols, rows: xterm.rows }));
    ws.binaryType = 'arraybuffer';
    let closedMessage: string | undefined;
    let drawn = 0;
    const encoder = new TextEncoder();
    const control = (message: Record<string, unknown>) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
    };
    const input = (bytes: Uint8Array) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(bytes);
    };

    ws.onmessage = (e: MessageEvent<ArrayBuffer | string>) => {
      if (typeof e.data !== 'string') {
        const bytes = new Uint8Array(e.data);
        xterm.write(bytes, () => {
          drawn += bytes.length;
          if (drawn >= ACK_EVERY) {
            control({ type: 'ack', bytes: drawn });
            drawn = 0;
          }
        });
        return;
      }
      const message = JSON.parse(e.data) as { type: string; message?: string };
      if (message.type === 'connected') {
        setStatus({ state: 'connected' });
        xterm.focus();
      }
      if (message.type === 'closed') closedMessage = message.message;
    };
    ws.onclose = (e) => {
      const message =
        closedMessage ??
        (e.code === 1006 ? 'The proxy refused the terminal or the connection was lost. If your session has ended, sign in again.' : `The connection closed (${e.code}${e.reason ? `: ${e.reason}` : ''}).`);
      setStatus({ state: 'closed', message, refused: e.code === CLOSE_REFUSED });
      xterm.options.cursorBlink = false;
    };

    const typed = xterm.onData((data) => input(encoder.encode(data)));
    const binary = xterm.onBinary((data) => input(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
    const resized = xterm.onResize(({ cols, rows }) => control({ type: 'resize', cols, rows }));
    const observer = new ResizeObserver(() => fit.fit());
    observer.observe(el);

    // Ctrl+Shift+C copies the selection and Ctrl+Shift+V pastes (Ctrl+C stays the shell's interrupt).
    xterm.attachCustomKeyEventHandler((e) => {
      if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey) return true;
      if (e.code === 'KeyC') {
        const selected = xterm.getSelection();
        if (selected) void navigator.clipboard?.writeText(selected);
        return false;
      }
      if (e.code === 'KeyV') {
        void navigator.clipboard?.readText().then((text) => xterm.paste(text));
        return false;
      }
      return true;
    });

    return () => {
      observer.disconnect();
      typed.dispose();
      binary.dispose();
      resized.dispose();
      ws.onclose = null;
      ws.close();
      xterm.dispose();
      term.current = undefined;
    };
  }, [socket, attempt]);

  const copy = useCallback(() => {
    const selected = term.current?.getSelection() ?? '';
    if (!selected) return setClip('Select text in the terminal first.');
    navigator.clipboard.writeText(selected).then(
      () => setClip('Copied.'),
      () => setClip('Could not copy: the browser did not allow it.'),
    );
  }, []);
  const paste = useCallback(() => {
    navigator.clipboard.readText().then(
      (text) => {
        term.current?.paste(text);
        term.current?.focus();
        setClip('');
      },
      () => setClip('Could not paste: the browser did not allow reading the clipboard; try Ctrl+Shift+V.'),
    );
  }, []);

  return (
    <section className="terminal-page" aria-labelledby="terminal-title">
      <div className="terminal-bar">
        <h1 id="terminal-title" className="terminal-title">
          {title}
        </h1>
        <p className={`terminal-status ${status.state}`} role="status" data-testid="terminal-status">
          {status.state === 'connecting' ? 'Connecting…' : status.state === 'connected' ? 'Connected' : `Closed: ${status.message}`}
        </p>
        <div className="terminal-actions">
          <button type="button" className="button subtle small" onClick={copy}>
            Copy
          </button>
          <button type="button" className="button subtle small" onClick={paste} disabled={status.state !== 'connected'}>
            Paste
          </button>
          {status.state === 'closed' && !status.refused && (
            <button type="button" className="button small" onClick={() => setAttempt((n) => n + 1)}>
              Reconnect
            </button>
          )}
        </div>
      </div>
      <p className="hint terminal-clip" aria-live="polite">
        {clip}
      </p>
      <div className="terminal-host" ref={host} data-testid="terminal" aria-label={what} />
    </section>
  );
}
