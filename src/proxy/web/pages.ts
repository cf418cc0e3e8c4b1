import { renderSVG } from 'uqr';
import { loginCommand, type AuthService } from '../../auth/auth-service.js';
import { hashPassword, passwordProblem } from '../../auth/password.js';
import { totpUri, verifyTotp } from '../../auth/totp.js';
import { readForm, requireSameOrigin } from './body.js';
import { html, page, Raw } from './html.js';
import { redirect, sendHtml } from './respond.js';
import type { WebHandler } from './web-handler.js';

/**
 * The server-rendered page of the identity flow: accepting an invite (set a password, enrol a
 * TOTP app). A plain form with no scripts, so it works before the person has any session; errors
 * re-render the form with the reason. Everything else under /web is the UI (ui-files.ts).
 */
export function registerPages(web: WebHandler, auth: AuthService): void {
  web.route('GET', '/web/invite/*', async ({ res, rest }) => {
    const token = await auth.userTokens.lookup(rest);
    sendHtml(res, 200, invitePage(auth, rest, token.user, token.totp_secret));
  });

  web.route('POST', '/web/invite/*', async (ctx) => {
    requireSameOrigin(ctx);
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
    sendHtml(
      ctx.res,
      200,
      page(
        'Account ready',
        html`<h1>You are all set, ${token.user}</h1><p class="ok">Your password${token.totp_secret ? ' and authenticator app are' : ' is'} saved.</p>
<p>Sign in from a terminal:</p><pre>${loginCommand(auth, token.user)}</pre><p>or in this browser: <a href="/web">sign in</a>.</p>`,
      ),
    );
  });

  web.route('GET', '/', ({ res }) => redirect(res, '/web'));
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
