import type { PosternError } from '../../errors/postern-error.js';
import { html, page, PAGE_HEADERS } from './html.js';
import type { WebRequest, WebResponse } from './http.js';

/** Sends a JSON answer; name the wire type (`sendJson<Ping>(…)`) so the body is checked against src/wire/api.ts. */
export function sendJson<T>(res: WebResponse, status: number, body: T, headers: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

export function sendHtml(res: WebResponse, status: number, text: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(status, { ...PAGE_HEADERS, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Sends an error: a page for a browser navigating (it asks for HTML), otherwise the wire form
 * `{"error": {"code", "message", "request_id"}}`.
 */
export function sendError(res: WebResponse, err: PosternError, requestId: string, req?: WebRequest): void {
  if (wantsHtml(req)) {
    sendHtml(res, err.status, page('Error', html`<h1>${err.status >= 500 ? 'Something went wrong' : 'That did not work'}</h1><p class="error">${err.message}</p><p class="muted">Request ${requestId}</p>`));
    return;
  }
  sendJson(res, err.status, err.toJSON(requestId));
}

export function wantsHtml(req: WebRequest | undefined): boolean {
  const accept = String(req?.headers.accept ?? '');
  return accept.includes('text/html');
}

export function redirect(res: WebResponse, location: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(303, { location, 'cache-control': 'no-store', ...headers });
  res.end();
}
