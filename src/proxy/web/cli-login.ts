import { randomInt } from 'node:crypto';
import { z } from 'zod';
import type { AuthService } from '../../auth/auth-service.js';
import { WindowLimiter } from '../../auth/rate-limiter.js';
import { newSecretToken, tokenHash } from '../../auth/secret-token.js';
import { isPosternError, PosternError } from '../../errors/postern-error.js';
import { addressKey } from '../../net/addr.js';
import { Collection } from '../../storage/collection.js';
import type { DeviceCodeResponse, DeviceTokenResponse } from '../../wire/api.js';
import { field, readForm, readJson, requireSameOrigin } from './body.js';
import { html, page, PAGE_HEADERS } from './html.js';
import type { Principal, WebAuthenticator } from './principal.js';
import { redirect, sendHtml, sendJson } from './respond.js';
import type { WebContext, WebHandler } from './web-handler.js';

const DEVICE_TTL_MS = 10 * 60_000;
/**
 * Device codes are asked for before anyone signs in, and each is two rows in storage: so at most
 * 10 a minute per client address, and at most 1,000 made in one code lifetime, which bounds what
 * is pending (and the storage it takes) whatever the number of addresses.
 */
const DEVICE_CODE_LIMITS = { perAddress: 10, perAddressWindowMs: 60_000, pending: 1000 };
const POLL_INTERVAL_S = 2;
/** Unambiguous letters only: codes are read off one screen and typed on another. */
const CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

const deviceSchema = z.object({ user_code: z.string(), status: z.enum(['pending', 'approved', 'denied']), user: z.string().optional(), remote_addr: z.string() });
const userCodeSchema = z.object({ device: z.string() });

/**
 * How the CLI gets a bearer token without a certificate (for `postern tcp`), after the person
 * signs in in a browser:
 * - browser flow: the CLI listens on a loopback port and opens /web/cli-login; after a consent
 *   click (so a link someone else crafted cannot silently mint a token) the browser is sent to
 *   the CLI's loopback callback with the token. Only loopback callbacks are accepted.
 * - device flow, for machines without a browser: the CLI gets a device code and a short user
 *   code, prints a URL and the code, and polls; the person approves the code in any browser.
 * Tokens are sessions of kind `cli`: they expire like sessions, show in `ctl get sessions`, and
 * end with a lock or `ctl rm session`.
 */
export function registerCliLogin(web: WebHandler, auth: AuthService, authn: WebAuthenticator): void {
  const devices = new Collection(auth.backend, '/device/', deviceSchema, 'device login');
  const userCodes = new Collection(auth.backend, '/devicecode/', userCodeSchema, 'device code');
  const perAddress = new WindowLimiter(DEVICE_CODE_LIMITS.perAddress, DEVICE_CODE_LIMITS.perAddressWindowMs);
  const pending = new WindowLimiter(DEVICE_CODE_LIMITS.pending, DEVICE_TTL_MS);

  /** Counts a device code for `address`, or refuses it when the address or the cluster has made too many. */
  const admitDeviceCode = (address: string): void => {
    const key = addressKey(address);
    const wait = perAddress.retryAfter(key);
    if (wait > 0) throw new PosternError('RATE_LIMITED', `too many device logins from your address; try again in ${Math.ceil(wait / 1000)} s`);
    const full = pending.retryAfter('all');
    if (full > 0) throw new PosternError('RATE_LIMITED', `too many device logins are waiting to be approved; try again in ${Math.ceil(full / 60_000)} min, or log in with \`postern login\``);
    perAddress.record(key);
    pending.record('all');
  };

  /** The signed-in person, or undefined after sending them to sign in and come back here. */
  const signedIn = async (ctx: WebContext): Promise<Principal | undefined> => {
    try {
      return await authn.principal(ctx);
    } catch (err) {
      if (!isPosternError(err, 'UNAUTHENTICATED')) throw err;
      redirect(ctx.res, `/web?next=${encodeURIComponent(ctx.req.url ?? '/web')}`);
      return undefined;
    }
  };

  const issueToken = async (user: string, remoteAddr: string) => {
    const record = await auth.users.require(user);
    const { secret, session } = await auth.sessions.create(record.name, await auth.sessionTtl(record), remoteAddr, 'cli');
    await auth.emit({ event: 'session.start', user: record.name, remote_addr: remoteAddr, session_id: session.id, kind: 'cli', expires: session.expires });
    return { token: secret, expires: session.expires, user: record.name };
  };

  web.route('GET', '/web/cli-login', async (ctx) => {
    const params = new URL(ctx.req.url ?? '/', 'https://proxy').searchParams;
    const callback = loopbackCallback(params.get('callback'));
    const state = params.get('state') ?? '';
    const who = await signedIn(ctx);
    if (!who) return;
    // The form's answer redirects to the CLI's loopback callback, which the page's form-action must allow.
    sendHtml(ctx.res, 200, consentPage(who.username, html`<form method="post" action="/web/cli-login"><input type="hidden" name="callback" value="${callback}"><input type="hidden" name="state" value="${state}"><button>Allow</button></form>`), {
      'content-security-policy': PAGE_HEADERS['content-security-policy'].replace("form-action 'self'", "form-action 'self' http://127.0.0.1:* http://localhost:*"),
    });
  });

  web.route('POST', '/web/cli-login', async (ctx) => {
    requireSameOrigin(ctx);
    const form = await readForm(ctx.req);
    const callback = new URL(loopbackCallback(form.get('callback')));
    const who = await authn.principal(ctx);
    const { token } = await issueToken(who.username, ctx.conn.clientAddr.address);
    callback.searchParams.set('state', form.get('state') ?? '');
    callback.searchParams.set('token', token);
    redirect(ctx.res, callback.toString());
  });

  web.route('POST', '/webapi/device/code', async ({ res, conn }) => {
    admitDeviceCode(conn.clientAddr.address);
    const base = auth.settings.publicUrl;
    const deviceCode = newSecretToken(32);
    const userCode = `${letters(4)}-${letters(4)}`;
    const expires = new Date(Date.now() + DEVICE_TTL_MS);
    await devices.create(tokenHash(deviceCode), { user_code: userCode, status: 'pending', remote_addr: conn.clientAddr.address }, expires);
    await userCodes.create(userCode, { device: tokenHash(deviceCode) }, expires);
    sendJson<DeviceCodeResponse>(res, 200, {
      device_code: deviceCode,
      user_code: userCode,
      verification_uri: `${base}/web/device`,
      verification_uri_complete: `${base}/web/device?code=${userCode}`,
      interval: POLL_INTERVAL_S,
      expires_in: DEVICE_TTL_MS / 1000,
    });
  });

  web.route('POST', '/webapi/device/token', async ({ req, res, conn }) => {
    const hash = tokenHash(field(await readJson(req), 'device_code'));
    const device = await devices.get(hash);
    if (!device) throw new PosternError('UNAUTHENTICATED', 'the device login expired or was used; start again');
    if (device.status === 'pending') return sendJson(res, 428, { error: { code: 'AUTHORIZATION_PENDING', message: 'waiting for the code to be approved in a browser' }, interval: POLL_INTERVAL_S });
    await devices.delete(hash);
    await userCodes.delete(device.user_code);
    if (device.status === 'denied' || !device.user) throw new PosternError('ACCESS_DENIED', 'the login was refused in the browser');
    sendJson<DeviceTokenResponse>(res, 200, await issueToken(device.user, conn.clientAddr.address));
  });

  web.route('GET', '/web/device', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return;
    const code = new URL(ctx.req.url ?? '/', 'https://proxy').searchParams.get('code') ?? '';
    sendHtml(
      ctx.res,
      200,
      consentPage(
        who.username,
        html`<form method="post" action="/web/device"><label for="code">The code your terminal shows</label><input id="code" name="code" value="${code}" autocomplete="off" required pattern="[A-Za-z]{4}-?[A-Za-z]{4}"><button>Allow</button></form>`,
      ),
    );
  });

  web.route('POST', '/web/device', async (ctx) => {
    requireSameOrigin(ctx);
    const who = await authn.principal(ctx);
    const code = ((await readForm(ctx.req)).get('code') ?? '').trim().toUpperCase().replace(/^([A-Z]{4})([A-Z]{4})$/, '$1-$2');
    const pointer = /^[A-Z]{4}-[A-Z]{4}$/.test(code) ? await userCodes.get(code) : undefined;
    if (!pointer) return sendHtml(ctx.res, 404, page('Unknown code', html`<h1>That code is not waiting</h1><p class="error">It is mistyped, expired (codes last 10 minutes) or used. Start the login again in your terminal.</p>`));
    await devices.update(pointer.device, (d) => ({ value: { ...d, status: 'approved', user: who.username } }));
    sendHtml(ctx.res, 200, page('Approved', html`<h1>You are signed in on your terminal</h1><p class="ok">The postern command there can now connect as ${who.username}. You can close this page.</p>`));
  });
}

/** Only the CLI on the person's own machine may receive a token: a loopback http URL with a port. */
function loopbackCallback(value: string | null): string {
  let url: URL | undefined;
  try {
    url = value ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== 'http:' || !['127.0.0.1', 'localhost'].includes(url.hostname) || !url.port) {
    throw new PosternError('BAD_REQUEST', 'the callback must be the postern command on this machine (http://127.0.0.1:PORT/…); start the login from `postern tcp` again');
  }
  return url.toString();
}

function consentPage(user: string, form: ReturnType<typeof html>): string {
  return page(
    'Sign in the postern command',
    html`<h1>Sign in the postern command?</h1><p>The <code>postern</code> command on a computer asks to open TCP tunnels as <strong>${user}</strong>, until your session would expire.</p><p class="muted">Allow only if you just started it yourself.</p>${form}`,
  );
}

function letters(n: number): string {
  return Array.from({ length: n }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join('');
}
