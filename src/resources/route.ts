import type { ResourceKindSpec } from './kind.js';

/**
 * TCP routes: HTTP CONNECT authorities the proxy forwards (proxy.routes). They live in the
 * proxy's configuration, not in storage, and may carry an inline policy besides their labels.
 */
export const ROUTE = {
  kind: 'route',
  noun: 'TCP route',
  plural: 'routes',
  labelField: 'route_labels',
  roleLists: [],
  admin: false,
  ctl: { definedIn: "configured in the proxy's postern.yaml (proxy.routes); change it there and restart the proxy" },
} as const satisfies ResourceKindSpec<'route'>;
