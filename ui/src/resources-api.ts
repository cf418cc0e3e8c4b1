import type { AppList, DbList, NodeList, RouteList } from '../../src/wire/api.js';
import { request } from './api';

export type { ListedNode as Node, ListedRoute as Route } from '../../src/wire/api.js';

/** The lists the resources page shows, one request each: the server decides every entry with the caller's roles. */
export const resourcesApi = {
  apps: () => request<AppList>('GET', '/webapi/apps'),
  nodes: () => request<NodeList>('GET', '/webapi/nodes'),
  databases: () => request<DbList>('GET', '/webapi/databases'),
  routes: () => request<RouteList>('GET', '/webapi/routes'),
};
