import type { Access } from '../../access/access.js';
import type { WebAuthenticator } from '../web/principal.js';
import type { NodeList } from '../../wire/api.js';
import { sendJson } from '../web/respond.js';
import type { NodeCatalog } from './node-catalog.js';
import type { WebHandler } from '../web/web-handler.js';

/** `GET /webapi/nodes`: the SSH nodes online that this person may log in to, and as whom. */
export function registerNodeRoutes(web: WebHandler, deps: { nodes: NodeCatalog; authn: WebAuthenticator; access: Access }): void {
  web.route('GET', '/webapi/nodes', async (ctx) => {
    const { checker } = await deps.access.view(await deps.authn.principal(ctx));
    const nodes = deps.nodes
      .list()
      .map((n) => ({ name: n.name, labels: n.labels, ...(n.description ? { description: n.description } : {}), logins: checker.allowedLogins({ kind: 'node', name: n.name, labels: n.labels }) }))
      .filter((n) => n.logins.length > 0);
    sendJson<NodeList>(ctx.res, 200, { nodes });
  });
}
