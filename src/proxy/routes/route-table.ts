import type { RouteConfig } from '../../config/schema.js';
import { PosternError } from '../../errors/postern-error.js';
import { parseHostPort, type HostPort } from '../../net/addr.js';
import { parseRoutePolicy, type RoutePolicy } from '../../policy/route-policy/index.js';

/** A TCP route, checked and compiled. */
export interface Route {
  /** host:port (lower-case host), matched against the whole CONNECT authority. */
  authority: string;
  labels: Record<string, string>;
  /** A target the proxy reaches itself, or a TCP app behind an agent. */
  target: { kind: 'address'; addr: HostPort } | { kind: 'app'; name: string };
  /** The inline policy, when the route has one; otherwise roles' route_labels decide. */
  policy?: RoutePolicy;
  /** For logs and errors: the `from` as written. */
  from: string;
}

/**
 * The TCP routes of `proxy.routes`, matched on the full CONNECT authority including the port:
 * a route for ssh.example.com:22 does not match CONNECT ssh.example.com:443 (the most common
 * mistake with tunnelled SSH, so "not found" names the routes that host does have).
 */
export class RouteTable {
  private readonly byAuthority = new Map<string, Route>();

  constructor(routes: RouteConfig[]) {
    routes.forEach((r, i) => {
      const path = `proxy.routes[${i}]`;
      const authority = normalize(r.from.slice('tcp+https://'.length));
      if (this.byAuthority.has(authority)) throw new PosternError('CONFIG_INVALID', `${path}.from: ${r.from} is routed twice; keep one route per host and port`);
      const target = r.to ? { kind: 'address' as const, addr: parseTarget(r.to, `${path}.to`) } : { kind: 'app' as const, name: r.app! };
      this.byAuthority.set(authority, { authority, labels: r.labels, target, from: r.from, ...(r.policy ? { policy: parseRoutePolicy(r.policy, `${path}.policy`) } : {}) });
    });
  }

  get size(): number {
    return this.byAuthority.size;
  }

  /** Every route, in the order of the config. */
  list(): Route[] {
    return [...this.byAuthority.values()];
  }

  match(authority: string): Route | undefined {
    return this.byAuthority.get(normalize(authority));
  }

  /** Routes for the same host on other ports: the hint when a CONNECT names the wrong port. */
  sameHost(authority: string): Route[] {
    const host = normalize(authority).replace(/:\d+$/, '');
    return [...this.byAuthority.values()].filter((r) => r.authority.replace(/:\d+$/, '') === host);
  }
}

function normalize(authority: string): string {
  return authority.trim().toLowerCase();
}

function parseTarget(uri: string, path: string): HostPort {
  const parsed = parseHostPort(uri.slice('tcp://'.length));
  if (typeof parsed === 'string') throw new PosternError('CONFIG_INVALID', `${path}: ${parsed}`);
  return parsed;
}
