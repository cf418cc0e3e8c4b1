/**
 * The proxy's API, as the UI uses it: same-origin fetch with the session cookie, JSON both ways,
 * and every failure turned into an ApiError carrying the server's code and message
 * (the wire form is `{"error": {"code", "message", "request_id"}}`).
 */

// The wire types come from the server's own definitions: a field renamed there fails this build.
import type { AuthSettings, ErrorBody, Ping, WhoAmI } from '../../src/wire/api.js';

export type { AuthSettings, ListedApp as App, ListedDb as Db, Ping, WhoAmI } from '../../src/wire/api.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Listener = (err: ApiError) => void;
let unauthorized: Listener | undefined;

/** Called when any request (other than signing in itself) is answered 401: the session is gone. */
export function onUnauthorized(listener: Listener | undefined): void {
  unauthorized = listener;
}

export interface RequestOptions {
  /** Whether a 401 means "back to the login form" (false for the login request itself). */
  signInOn401?: boolean;
}

/**
 * One JSON request to the proxy with the browser's session; a failure is an ApiError with the
 * server's code and message. Pages with their own calls keep them in their own module beside
 * them and use this.
 */
export async function request<T>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'Postern could not be reached. Check your connection and try again.');
  }
  const text = await res.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!res.ok) {
    // Read defensively: a proxy in front of Postern may answer with something else.
    const wire = (data as Partial<Record<keyof ErrorBody, Partial<Record<keyof ErrorBody['error'], unknown>>>> | undefined)?.error;
    const err = new ApiError(
      res.status,
      typeof wire?.code === 'string' ? wire.code : `HTTP_${res.status}`,
      typeof wire?.message === 'string' ? wire.message : `The server answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}.`,
      typeof wire?.request_id === 'string' ? wire.request_id : undefined,
    );
    if (res.status === 401 && opts.signInOn401 !== false) unauthorized?.(err);
    throw err;
  }
  if (data === undefined) throw new ApiError(res.status, 'BAD_RESPONSE', `The server sent an answer the web UI cannot read (${method} ${path}).`);
  return data as T;
}

export const api = {
  ping: () => request<Ping>('GET', '/webapi/ping', undefined, { signInOn401: false }),
  authSettings: () => request<AuthSettings>('GET', '/webapi/auth/settings', undefined, { signInOn401: false }),
  /** Who is signed in; a 401 here is the normal "not signed in" answer, not a lost session. */
  whoami: (opts: RequestOptions = {}) => request<WhoAmI>('GET', '/webapi/whoami', undefined, opts),
  /** Signs in; the answer is who is now signed in, as whoami would say. */
  signIn: (user: string, password: string, otp?: string) => request<WhoAmI>('POST', '/webapi/sessions', { user, password, ...(otp ? { otp } : {}) }, { signInOn401: false }),
  signOut: () => request<{ ended: boolean }>('DELETE', '/webapi/sessions', undefined, { signInOn401: false }),
};
