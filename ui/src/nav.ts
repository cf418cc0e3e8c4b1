import { useWindowValue } from './use-window-value';

/**
 * Where to go after signing in, from `?next=`: only a path on this origin under /web/ (for
 * example /web/launch/grafana, a server route). Anything else (another host, `//host`, a scheme,
 * backslashes, control characters, a path that leaves /web/ once normalised) is ignored, so a link
 * to the login page can never send someone elsewhere.
 */
export function safeNext(search: string = window.location.search): string | undefined {
  const raw = new URLSearchParams(search).get('next');
  if (!raw || raw.length > 2048) return undefined;
  if (!raw.startsWith('/web/') || raw.includes('//') || raw.includes('\\') || /[\u0000-\u001f\u007f\s]/.test(raw)) return undefined;
  let url: URL;
  try {
    url = new URL(raw, window.location.origin);
  } catch {
    return undefined;
  }
  if (url.origin !== window.location.origin || !url.pathname.startsWith('/web/')) return undefined;
  return url.pathname + url.search + url.hash;
}

/** The current path, kept in step with the History API (back and forward included). */
export function usePath(): string {
  return useWindowValue(readPath, PATH_EVENTS);
}
const readPath = () => window.location.pathname;
const PATH_EVENTS = ['popstate', 'postern:navigate'] as const;

/** Moves to another path of the UI without reloading (replace: without a new history entry). */
export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === window.location.pathname + window.location.search) return;
  if (opts.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new Event('postern:navigate'));
}
