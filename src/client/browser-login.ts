import { spawn } from 'node:child_process';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { PosternError } from '../errors/postern-error.js';
import { formatHostPort } from '../net/addr.js';
import { callApi, type ProxyEndpoint } from './api-client.js';
import type { DeviceCodeResponse, DeviceTokenResponse, WhoAmI } from '../wire/api.js';
import type { CachedToken } from './token-cache.js';

const LOGIN_TIMEOUT_MS = 5 * 60_000;

/** Where status lines go: stderr, since stdout may be carrying the tunnel (ProxyCommand). */
export type Say = (line: string) => void;

/**
 * Browser login: listen on a loopback port, open the proxy's CLI-login page in a browser, and
 * wait for the proxy to send the browser back with a token. The state ties the callback to this
 * login (compared in constant time); the page asks the person to confirm first.
 */
export async function browserLogin(endpoint: ProxyEndpoint, browserCmd: string | undefined, say: Say): Promise<CachedToken> {
  const state = randomBytes(24).toString('base64url');
  let resolveToken: (t: { token: string }) => void = () => {};
  const received = new Promise<{ token: string }>((resolve) => (resolveToken = resolve));
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const given = url.searchParams.get('state') ?? '';
    const token = url.searchParams.get('token');
    if (url.pathname !== '/callback' || !token || given.length !== state.length || !timingSafeEqual(Buffer.from(given), Buffer.from(state))) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('This is not the login this terminal started.\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Signed in</title><p>You are signed in. You can close this tab and go back to your terminal.</p>');
    resolveToken({ token });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const port = (server.address() as { port: number }).port;
    const url = new URL(`https://${formatHostPort(endpoint.proxy)}/web/cli-login`);
    url.searchParams.set('callback', `http://127.0.0.1:${port}/callback`);
    url.searchParams.set('state', state);
    say(`Opening a browser to sign in. If none opens, visit:\n  ${url}`);
    openBrowser(url.toString(), browserCmd);
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new PosternError('UNAUTHENTICATED', 'no sign-in within 5 minutes; run the command again')), LOGIN_TIMEOUT_MS).unref());
    const { token } = await Promise.race([received, timeout]);
    const me = await callApi<WhoAmI>({ ...endpoint, bearer: token }, 'GET', '/webapi/whoami');
    return { token, user: me.username, expires: me.expires };
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/** Device login, for machines without a browser: show a URL and a code, and poll until approved. */
export async function deviceLogin(endpoint: ProxyEndpoint, say: Say): Promise<CachedToken> {
  const start = await callApi<DeviceCodeResponse>(endpoint, 'POST', '/webapi/device/code', {});
  say(`To sign in, open ${start.verification_uri} in a browser and enter the code ${start.user_code}\n  (or open ${start.verification_uri_complete})`);
  const deadline = Date.now() + start.expires_in * 1000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, start.interval * 1000));
    try {
      const done = await callApi<DeviceTokenResponse>(endpoint, 'POST', '/webapi/device/token', { device_code: start.device_code });
      return done;
    } catch (err) {
      if (!(err instanceof PosternError) || !/waiting for the code/.test(err.message)) throw err;
    }
  }
  throw new PosternError('UNAUTHENTICATED', 'the code was not approved in time; run the command again');
}

/** Opens `url` in the browser (`browserCmd`, $BROWSER, or the system's opener), quietly doing nothing where there is none. */
export function openBrowser(url: string, browserCmd: string | undefined): void {
  const cmd = browserCmd ?? process.env.BROWSER ?? (process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open');
  const child = spawn(cmd, [url], { stdio: 'ignore', detached: true, shell: false });
  child.on('error', () => {}); // no browser here: the URL is printed anyway
  child.unref();
}

/** Whether a browser can be opened here (else the device flow is the way). */
export function canOpenBrowser(browserCmd: string | undefined): boolean {
  if (browserCmd || process.env.BROWSER) return true;
  if (process.platform !== 'linux') return true;
  return Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
}
