import { tokenHash } from '../../auth/secret-token.js';
import type { Access } from '../../access/access.js';
import { isPosternError } from '../../errors/postern-error.js';
import type { WebAuthenticator } from '../web/principal.js';
import { redirect, sendHtml } from '../web/respond.js';
import type { WebContext, WebHandler } from '../web/web-handler.js';
import { appPath, deniedPage, AUTH_CALLBACK } from './app-access.js';
import type { AppCatalog } from './app-catalog.js';
import type { AppSessions } from '../../auth/app-sessions.js';

/**
 * `GET /web/launch/<app>` on the proxy's own domain, the middle of the launch flow: it needs the
 * person's web session (else: sign in first, then come back here), checks the app is online and
 * allowed, and sends the browser back to the app's domain with a single-use code bound to the
 * state that domain set. Opened without a state (the Launch button), it starts at the app's
 * domain so that the state cookie exists first.
 */
export function registerLauncher(web: WebHandler, deps: { catalog: AppCatalog; sessions: AppSessions; authn: WebAuthenticator; access: Access }): void {
  web.route('GET', '/web/launch/*', async (ctx: WebContext) => {
    const name = ctx.rest;
    const params = new URL(ctx.req.url ?? '/', 'https://proxy').searchParams;
    const state = params.get('state');
    const path = appPath(params.get('path'));
    let principal;
    try {
      principal = await deps.authn.principal(ctx);
    } catch (err) {
      if (!isPosternError(err, 'UNAUTHENTICATED')) throw err;
      return redirect(ctx.res, `/web?next=${encodeURIComponent(ctx.req.url ?? `/web/launch/${name}`)}`);
    }
    const app = deps.catalog.get(name);
    if (!app) {
      const { status, body } = await deps.catalog.notOnlinePage(name);
      return sendHtml(ctx.res, status, body);
    }
    if (!state) return redirect(ctx.res, deps.catalog.appUrl(app, path));
    const authorization = await deps.access.authorize({ caller: principal, target: { kind: 'app', name, labels: app.labels }, clientAddr: ctx.conn.clientAddr.address, log: ctx.log });
    if (!authorization.allowed) return sendHtml(ctx.res, 403, deniedPage(authorization.who, name, authorization.decision.reasons, deps.catalog.proxyUrl));
    if (principal.via !== 'session' || !principal.sessionSecret) {
      // A certificate cannot hand a browser a session: apps opened in a browser need a browser sign-in.
      return redirect(ctx.res, `/web?next=${encodeURIComponent(ctx.req.url ?? '')}`);
    }
    const code = await deps.sessions.createCode({
      app: name,
      user: principal.username,
      web_session: tokenHash(principal.sessionSecret),
      web_session_expires: principal.expires.toISOString(),
      state,
      path,
    });
    const back = new URL(deps.catalog.appUrl(app, AUTH_CALLBACK));
    back.searchParams.set('code', code);
    back.searchParams.set('state', state);
    redirect(ctx.res, back.toString());
  });
}
