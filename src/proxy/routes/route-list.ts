import type { Access } from '../../access/access.js';
import type { RouteList } from '../../wire/api.js';
import type { WebAuthenticator } from '../web/principal.js';
import { sendJson } from '../web/respond.js';
import type { WebHandler } from '../web/web-handler.js';
import type { RouteTable } from './route-table.js';

/**
 * `GET /webapi/routes`: the TCP routes this person may open now, decided as a CONNECT would be
 * (roles and an inline policy together, from this request's address); targets are not shown.
 */
export function registerRouteList(web: WebHandler, deps: { routes: RouteTable; authn: WebAuthenticator; access: Access }): void {
  web.route('GET', '/webapi/routes', async (ctx) => {
    const view = await deps.access.view(await deps.authn.principal(ctx), ctx.conn.clientAddr.address);
    const routes = deps.routes
      .list()
      .filter((r) => view.decide({ kind: 'route', name: r.authority, labels: r.labels, ...(r.policy ? { policy: r.policy } : {}) }).allow)
      .map((r) => ({ authority: r.authority, labels: r.labels }));
    sendJson<RouteList>(ctx.res, 200, { routes });
  });
}
