import { renderSVG } from 'uqr';
import type { AuthService } from '../../auth/auth-service.js';
import { hashPassword, passwordProblem } from '../../auth/password.js';
import { totpUri, verifyTotp } from '../../auth/totp.js';
import { isPosternError, PosternError } from '../../errors/postern-error.js';
import { clearedCookie, endSession, startSession } from './auth-routes.js';
import { readForm } from './body.js';
import { html, page, Raw } from './html.js';
import type { WebAuthenticator } from './principal.js';
import { redirect, sendHtml } from './respond.js';
import type { WebContext, WebHandler } from './web-handler.js';

/**
 * The server-rendered pages of the identity flow: accepting an invite (set a password, enrol a
 * TOTP app) and signing in. Plain forms, no scripts; errors re-render the form with the reason.
 */
export function registerPages(web: WebHandler, auth: AuthService, authn: WebAuthenticator): void {
  const otp = auth.settings.secondFactor === 'otp';

  web.route('GET', '/web/invite/*', async ({ res, rest }) => {
    const token = await auth.userTokens.lookup(rest);
    sendHtml(res, 200, invitePage(auth, rest, token.user, token.totp_secret));
  });

  web.route('POST', '/web/invite/*', async (ctx) => {
    sameOrigin(ctx);
    const token = await auth.userTokens.lookup(ctx.rest);
    const form = await readForm(ctx.req);
    const password = form.get('password') ?? '';
    const problem =
      password !== form.get('password2') ? 'the two passwords differ' : passwordProblem(password);
    let step: number | undefined;
    if (!problem && token.totp_secret) step = verifyTotp(token.totp_secret, form.get('otp') ?? '');
    const error = problem ?? (token.totp_secret && step === undefined ? 'that one-time code is wrong; check the app shows the code for this account and the clock is right' : undefined);
    if (error) {
      sendHtml(ctx.res, 400, invitePage(auth, ctx.rest, token.user, token.totp_secret, error));
      return;
    }
    const hash = await hashPassword(password);
    await auth.userTokens.consume(ctx.rest);
    await auth.users.setCredentials(token.user, { password_hash: hash, ...(token.totp_secret ? { totp_secret: token.totp_secret, totp_last_step: step! } : {}) });
    await auth.emit({ event: 'user.password.set', user: token.user, remote_addr: ctx.conn.clientAddr.address, how: token.kind });
    const proxy = new URL(auth.settings.publicUrl).host;
    sendHtml(
      ctx.res,
      200,
      page(
        'Account ready',
        html`<h1>You are all set, ${token.user}</h1><p class="ok">Your password${token.totp_secret ? ' and authenticator app are' : ' is'} saved.</p>
<p>Sign in from a terminal:</p><pre>postern login --proxy=${proxy} --user=${token.user}</pre><p>or in this browser: <a href="/web/login">sign in</a>.</p>`,
      ),
    );
  });

  web.route('GET', '/', ({ res }) => redirect(res, '/web'));

  web.route('GET', '/web/login', ({ res }) => sendHtml(res, 200, loginPage(otp)));

  web.route('POST', '/web/login', async (ctx) => {
    sameOrigin(ctx);
    const form = await readForm(ctx.req);
    const user = form.get('user') ?? '';
    try {
      const found = await auth.login({ user, password: form.get('password') ?? '', ...(form.get('otp') ? { otp: form.get('otp')! } : {}), remoteAddr: ctx.conn.clientAddr.address, method: 'web' });
      const { cookie } = await startSession(auth, found, ctx);
      redirect(ctx.res, '/web', { 'set-cookie': cookie });
    } catch (err) {
      if (!isPosternError(err) || err.status >= 500) throw err;
      sendHtml(ctx.res, err.status, loginPage(otp, err.message, user));
    }
  });

  web.route('GET', '/web', async (ctx) => {
    let principal;
    try {
      principal = await authn.principal(ctx);
    } catch (err) {
      if (isPosternError(err, 'UNAUTHENTICATED')) return redirect(ctx.res, '/web/login');
      throw err;
    }
    sendHtml(
      ctx.res,
      200,
      page(
        'Signed in',
        html`<h1>Signed in as ${principal.username}</h1><p>Roles: ${principal.roles.join(', ')}</p><p class="muted">Until ${principal.expires.toISOString()}</p>
<form method="post" action="/web/logout"><button>Sign out</button></form>`,
      ),
    );
  });

  web.route('POST', '/web/logout', async (ctx) => {
    sameOrigin(ctx);
    const principal = await authn.principal(ctx).catch(() => undefined);
    if (principal) await endSession(auth, principal.username, principal.sessionSecret, ctx);
    redirect(ctx.res, '/web/login', { 'set-cookie': clearedCookie() });
  });
}

function invitePage(auth: AuthService, token: string, user: string, totpSecret: string | undefined, error?: string): string {
  const uri = totpSecret && totpUri(totpSecret, user, `Postern ${auth.cluster.clusterName}`);
  return page(
    'Set up your account',
    html`<h1>Welcome, ${user}</h1>${error && html`<p class="error">${error}</p>`}
<form method="post" action="/web/invite/${token}">
<label for="password">Choose a password (12 characters or more)</label><input id="password" name="password" type="password" autocomplete="new-password" required minlength="12">
<label for="password2">The same password again</label><input id="password2" name="password2" type="password" autocomplete="new-password" required>
${
  uri &&
  html`<label>Add Postern to your authenticator app</label><div class="qr">${new Raw(renderSVG(uri))}</div>
<p class="muted">Scan the code, or enter this key by hand: <code>${totpSecret}</code></p>
<label for="otp">The 6-digit code the app shows</label><input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" required>`
}
<button>Save</button></form>`,
  );
}

function loginPage(otp: boolean, error?: string, user = ''): string {
  return page(
    'Sign in',
    html`<h1>Sign in to Postern</h1>${error && html`<p class="error">${error}</p>`}
<form method="post" action="/web/login">
<label for="user">User name</label><input id="user" name="user" autocomplete="username" required value="${user}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
${otp && html`<label for="otp">One-time code</label><input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" required>`}
<button>Sign in</button></form>`,
  );
}

/** Form posts must come from our own pages: a browser sends Origin, and it must be this host. */
function sameOrigin(ctx: WebContext): void {
  const origin = ctx.req.headers.origin;
  const host = ctx.req.headers.host ?? (ctx.req.headers as Record<string, string | undefined>)[':authority'];
  if (origin !== undefined && origin !== `https://${host}`) throw new PosternError('ACCESS_DENIED', 'this form can only be sent from the page that shows it');
}
