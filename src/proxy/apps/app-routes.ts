import type { Access } from '../../access/access.js';
import { callerFromIdentity } from '../../access/caller.js';
import type { AuthService } from '../../auth/auth-service.js';
import type { IdentityVerifier } from '../../auth/verifier.js';
import { PosternError } from '../../errors/postern-error.js';
import type { AppCertificateResponse, AppList, AuthSettings } from '../../wire/api.js';
import { field, readJson } from '../web/body.js';
import type { WebAuthenticator } from '../web/principal.js';
import { sendJson } from '../web/respond.js';
import type { WebHandler } from '../web/web-handler.js';
import type { AppCatalog } from './app-catalog.js';

/** The app API on the proxy's own domain: what the UI lists, what `postern apps ls` prints, and `apps login`'s certificates. */
export function registerAppRoutes(web: WebHandler, deps: { catalog: AppCatalog; authn: WebAuthenticator; access: Access; auth: AuthService; verifier: IdentityVerifier }): void {
  const { auth } = deps;
  // What the login form needs to know before anyone is logged in.
  web.route('GET', '/webapi/auth/settings', ({ res }) => sendJson<AuthSettings>(res, 200, { second_factor: auth.settings.secondFactor }));

  // The apps this person may open: online, and allowed by their roles.
  web.route('GET', '/webapi/apps', async (ctx) => {
    const view = await deps.access.view(await deps.authn.principal(ctx), ctx.conn.clientAddr.address);
    const apps = deps.catalog
      .list()
      .filter((app) => view.decide({ kind: 'app', name: app.name, labels: app.labels }).allow)
      .map((app) => ({
        name: app.name,
        ...(app.description ? { description: app.description } : {}),
        labels: app.labels,
        type: app.type,
        public_addr: app.publicAddr,
        ...(app.type === 'http' ? { launch_url: `/web/launch/${app.name}` } : {}),
      }));
    sendJson<AppList>(ctx.res, 200, { apps });
  });

  // A certificate for one app, for curl and `postern proxy app`: it lives no longer than the one presented.
  web.route('POST', '/webapi/apps/*', async (ctx) => {
    const [name, action] = ctx.rest.split('/');
    if (action !== 'certificate' || !name) throw new PosternError('NOT_FOUND', `nothing is served at ${ctx.path}; use POST /webapi/apps/NAME/certificate`);
    const identity = deps.verifier.verifySocket(ctx.conn.socket, 'user');
    const app = await deps.catalog.online(name);
    const authorization = await deps.access.authorize({ caller: callerFromIdentity(identity), target: { kind: 'app', name, labels: app.labels }, clientAddr: ctx.conn.clientAddr.address, log: ctx.log });
    if (!authorization.allowed) throw authorization.error();
    const body = await readJson(ctx.req);
    const ttl = identity.expires.getTime() - Date.now();
    // Issued for the user as they stand now: roles taken away since the login are not carried over.
    const cert = await auth.issueFor(authorization.subject!, field(body, 'public_key'), ttl, ctx.conn.clientAddr.address, { kind: 'app', name, public_addr: app.publicAddr });
    sendJson<AppCertificateResponse>(ctx.res, 200, { cert_pem: cert.certPem, expires: cert.expires.toISOString(), app: { name, type: app.type, public_addr: app.publicAddr } });
  });
}
