import { PosternError } from '../../errors/postern-error.js';
import { formatHostPort, isProxyName, type HostPort } from '../../net/addr.js';
import type { AppAnnouncement } from '../../resources/app.js';
import type { TunnelRegistry } from '../../tunnel/registry.js';
import { html, page } from '../web/html.js';

/** An app as the proxy serves it: what its agent announced, and where people reach it. */
export interface App {
  name: string;
  description?: string;
  labels: Record<string, string>;
  /** http for web apps (reached in a browser), tcp for raw TCP apps (reached through `postern proxy app`). */
  type: 'http' | 'tcp';
  /** The app's own URI, as its agent reaches it (for the JWT audience and Location rewrites). */
  uri: string;
  /** host[:port] people use: `<name>.<proxy host>`, or the app's own public_addr. */
  publicAddr: string;
  /** Headers added to every request (`Name: value` with trait templates). */
  rewriteHeaders: string[];
  /** What the agent announced: authorized against, and what a dial must find again (TunnelRegistry.dial). */
  announced: AppAnnouncement;
}

/**
 * The apps online now (from the tunnel registry), with their public addresses: every app is
 * reached at `<name>.<proxy public host>` on the proxy's public port, unless it announces a
 * public_addr of its own.
 */
export class AppCatalog {
  private readonly portSuffix: string;
  /** The apps by name and by public host, rebuilt only when the registry changes (every request asks). */
  private view: { version: number; byName: Map<string, App>; byPublicHost: Map<string, App> } | undefined;

  constructor(
    private readonly tunnels: TunnelRegistry,
    private readonly proxy: HostPort,
  ) {
    this.portSuffix = proxy.port === 443 ? '' : `:${proxy.port}`;
  }

  list(): App[] {
    return [...this.current().byName.values()];
  }

  get(name: string): App | undefined {
    return this.current().byName.get(name);
  }

  /** The app if it is online, else an error that tells "its agent is offline" from "there is no such app" (for the API and CLI). */
  async online(name: string): Promise<App> {
    const app = this.get(name);
    if (app) return app;
    if (await this.tunnels.known('app', name)) throw new PosternError('AGENT_OFFLINE', `agent for app "${name}" is offline: no agent serving it is connected; try again when it is back, or ask the people who run ${name} to check its Postern agent`);
    throw new PosternError('NOT_FOUND', `there is no app "${name}"; \`postern apps ls\` lists the apps you may open`);
  }

  /** The page for an app that is not online: "offline" if an agent ever announced it, else "no such app". */
  async notOnlinePage(name: string): Promise<{ status: number; body: string }> {
    if (await this.tunnels.known('app', name)) return { status: 503, body: offlinePage(name, this.proxyUrl) };
    return { status: 404, body: unknownAppPage(name, this.proxyUrl) };
  }

  /**
   * The app a request's Host names (an app subdomain, or an app's own public_addr), with the app
   * itself when it is online. An app subdomain whose app is offline is still an app request: the
   * person gets the "offline" page, never the proxy's own pages under an app's name.
   */
  byHost(hostHeader: string): { name: string; app: App | undefined } | undefined {
    const host = hostHeader.toLowerCase().replace(/:\d+$/, '');
    const suffix = `.${this.proxy.host.toLowerCase()}`;
    if (host.endsWith(suffix) && !host.slice(0, -suffix.length).includes('.')) {
      const name = host.slice(0, -suffix.length);
      return { name, app: this.get(name) };
    }
    const app = this.current().byPublicHost.get(host);
    return app && { name: app.name, app };
  }

  private current(): NonNullable<typeof this.view> {
    if (this.view?.version !== this.tunnels.version) {
      const apps = this.tunnels.list('app').map((r) => this.toApp(r));
      this.view = {
        version: this.tunnels.version,
        byName: new Map(apps.map((a) => [a.name, a])),
        byPublicHost: new Map(apps.map((a) => [a.publicAddr.toLowerCase().replace(/:\d+$/, ''), a])),
      };
    }
    return this.view;
  }

  /** The URL of the proxy's own pages (login, launcher). */
  get proxyUrl(): string {
    return `https://${formatHostPort(this.proxy)}`;
  }

  appUrl(app: App, path = '/'): string {
    return `https://${app.publicAddr}${path}`;
  }

  private toApp(r: AppAnnouncement): App {
    return {
      name: r.name,
      ...(r.description ? { description: r.description } : {}),
      labels: r.labels,
      type: r.uri?.startsWith('tcp:') ? 'tcp' : 'http',
      uri: r.uri ?? '',
      // Never the proxy's own host or a name under it: those are the proxy's pages and the app subdomains.
      publicAddr: r.public_addr && !isProxyName(r.public_addr, this.proxy.host) ? r.public_addr : `${r.name}.${this.proxy.host}${this.portSuffix}`,
      rewriteHeaders: r.rewrite_headers ?? [],
      announced: r,
    };
  }
}

export function offlinePage(app: string, proxyUrl: string): string {
  return page(`${app} is offline`, html`<h1>${app} is offline</h1><p class="error">agent for ${app} is offline: no agent serving it is connected right now.</p><p>Try again in a minute; if it stays offline, ask the people who run ${app} to check its Postern agent.</p><p><a href="${proxyUrl}/web">Back to your applications</a></p>`, `${proxyUrl}/web`);
}

function unknownAppPage(app: string, proxyUrl: string): string {
  return page(`No app named ${app}`, html`<h1>There is no app named ${app}</h1><p class="error">No agent has ever announced an app called "${app}" to this cluster.</p><p>Check the address; your applications are listed on the <a href="${proxyUrl}/web">applications page</a>.</p>`, `${proxyUrl}/web`);
}
