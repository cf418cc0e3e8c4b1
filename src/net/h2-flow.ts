import type { Http2Session, Settings } from 'node:http2';

/**
 * HTTP/2 flow control for sessions that carry byte streams (agent tunnels, CONNECT tunnels).
 * Node's 64 KiB defaults cap a stream at one window per round trip, about half of what the link
 * carries. 1 MiB per stream lets one stream fill a fast link while still bounding what a stalled
 * stream holds; the connection's window is larger, so a few stalled streams cannot starve the rest.
 * Agent tunnels start lower and size their stream windows from the path (net/window-tuner.ts).
 */
export const STREAM_WINDOW = 1 << 20;
export const SESSION_WINDOW = 32 << 20;

/** Settings for such a session; how many streams the peer may open at once is each side's own choice. */
export function bulkSettings(maxConcurrentStreams: number): Settings {
  return { initialWindowSize: STREAM_WINDOW, maxFrameSize: 64 << 10, maxConcurrentStreams, enablePush: false };
}

/** The connection-level window is not a setting: it is opened once the session is up. */
export function widenSessionWindow(session: Http2Session): void {
  if (session.connecting) session.once('connect', () => session.setLocalWindowSize(SESSION_WINDOW));
  else session.setLocalWindowSize(SESSION_WINDOW);
}
