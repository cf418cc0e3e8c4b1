import type { Access } from '../../access/access.js';
import type { TunnelRegistry } from '../../tunnel/registry.js';
import type { DbList } from '../../wire/api.js';
import type { WebAuthenticator } from '../web/principal.js';
import { sendJson } from '../web/respond.js';
import type { WebHandler } from '../web/web-handler.js';

/**
 * `GET /webapi/databases`: the databases online that this person may reach, with the database
 * users and (PostgreSQL's) database names their roles allow on each (`postern db ls`). A database with no user allowed
 * is left out: nothing could connect to it.
 */
export function registerDbRoutes(web: WebHandler, deps: { tunnels: TunnelRegistry; authn: WebAuthenticator; access: Access }): void {
  web.route('GET', '/webapi/databases', async (ctx) => {
    const { checker } = await deps.access.view(await deps.authn.principal(ctx));
    const databases = deps.tunnels
      .list('db')
      .map((db) => {
        const resource = { kind: 'db' as const, name: db.name, labels: db.labels };
        return {
          name: db.name,
          protocol: db.protocol ?? '',
          labels: db.labels,
          ...(db.description ? { description: db.description } : {}),
          db_users: checker.allowedNames(resource, 'db_users'),
          // MySQL's schemas are not database names roles decide (docs/databases.md).
          db_names: db.protocol === 'postgres' ? checker.allowedNames(resource, 'db_names') : [],
        };
      })
      .filter((db) => db.db_users.length > 0);
    sendJson<DbList>(ctx.res, 200, { databases });
  });
}
