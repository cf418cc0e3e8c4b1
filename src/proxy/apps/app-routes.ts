import type { AuditLog } from '../../audit/audit-log.js';
import type { Authorizer } from '../../auth/authorizer.js';
import type { AuthSettings } from '../../auth/auth-service.js';
import type { WebAuthenticator } from '../web/principal.js';
import { sendJson } from '../web/respond.js';
import type { WebHandler } from '../web/web-handler.js';
import type { AppCatalog } from './app-catalog.js';

/** The app API on the proxy's own domain: what the UI lists and what `postern apps ls` prints. */
export function registerAppRoutes(web: WebHandler, deps: { catalog: AppCatalog; authn: WebAuthenticator; authorizer: Authorizer; audit: AuditLog; settings: AuthSettings }): void {
  // What the login form needs to know before anyone is logged in.
  web.route('GET', '/webapi/auth/settings', ({ res }) => sendJson(res, 200, { second_factor: deps.settings.secondFactor }));

  // The apps this person may open: online, and allowed by their roles.
  web.route('GET', '/webapi/apps', async (ctx) => {
    const principal = await deps.authn.principal(ctx);
    const checker = deps.authorizer.checker(principal);
    const apps = deps.catalog
      .list()
      .filter((app) => checker.checkResource({ kind: 'app', name: app.name, labels: app.labels }).allow)
      .map((app) => ({
        name: app.name,
        ...(app.description ? { description: app.description } : {}),
        labels: app.labels,
        type: app.type,
        public_addr: app.publicAddr,
        ...(app.type === 'http' ? { launch_url: `/web/launch/${app.name}` } : {}),
      }));
    sendJson(ctx.res, 200, { apps });
  });
}
