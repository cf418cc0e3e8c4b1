/** Where a terminal's WebSocket goes, given the first size of the PTY (keep the function stable: a new one reconnects). */
export type TerminalSocket = (size: { cols: number; rows: number }) => URL;

/** The same address with ws: or wss:, as the page's own scheme. */
export function socketUrl(path: string, params: Record<string, string>): URL {
  const url = new URL(path, window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = new URLSearchParams(params).toString();
  return url;
}

/** The console's browser terminal: SSH from the proxy (/webapi/terminal). */
export function proxyTerminal(node: string, login: string): TerminalSocket {
  return ({ cols, rows }) => socketUrl('/webapi/terminal', { node, login, cols: String(cols), rows: String(rows) });
}
