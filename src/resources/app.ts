import { z } from 'zod';
import { PosternError } from '../errors/postern-error.js';
import { PUBLIC_ADDR } from '../net/addr.js';
import { description, flagBoolean, labelMap, publicAddr, resourceName, targetUri } from './fields.js';
import { announcementOf, type AgentServed, type ResourceKindSpec } from './kind.js';

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 };

/** An app in the agent's config (`agent.apps`, `--app`). */
const appEntry = z.strictObject({
  name: resourceName,
  uri: targetUri(['http:', 'https:', 'tcp:']),
  labels: labelMap,
  description,
  /** host[:port] people use instead of <name>.<proxy host>; it needs a certificate in proxy.certificates. */
  public_addr: publicAddr.optional(),
  /** Headers added to every request, with trait templates: `X-User: {{internal.username}}`. */
  rewrite: z.strictObject({ headers: z.array(z.string().regex(/^[A-Za-z0-9-]+: ?.+$/, 'write a header as "Name: value", like "X-User: {{internal.username}}"')).default([]) }).optional(),
  /** https:// apps with a self-signed certificate: still encrypted, but the app is not authenticated. */
  insecure_skip_verify: flagBoolean.optional(),
});
export type AppEntry = z.output<typeof appEntry>;

export const appAnnouncement = announcementOf('app', {
  /** http(s):// or tcp:// URI of the target, as the agent reaches it. */
  uri: z.string().max(2048).optional(),
  /** A public address of its own instead of <name>.<proxy host>. */
  public_addr: z.string().max(259).regex(PUBLIC_ADDR).optional(),
  /** Headers the proxy adds to every request, `Name: value` with trait templates. */
  rewrite_headers: z.array(z.string().max(1024)).max(64).optional(),
  /** https:// apps: the proxy accepts any certificate from the app (a self-signed internal app). */
  insecure_skip_verify: z.boolean().optional(),
});
export type AppAnnouncement = z.output<typeof appAnnouncement>;

const agent = {
  joinRole: 'app',
  configKey: 'apps',
  flag: '--app',
  flagFields: ['name', 'uri', 'description', 'public_addr', 'insecure_skip_verify'],
  flagExample: 'name=grafana,uri=http://localhost:3000,labels=env=dev',
  flagHelp: 'serve an app',
  entry: appEntry,
  announcement: appAnnouncement,
  serve(app) {
    const uri = new URL(app.uri);
    const port = uri.port ? Number(uri.port) : DEFAULT_PORTS[uri.protocol];
    if (!port) throw new PosternError('CONFIG_INVALID', `app ${app.name}: ${app.uri} needs a port`);
    const resource: AppAnnouncement = {
      kind: 'app',
      name: app.name,
      labels: app.labels,
      uri: app.uri,
      ...(app.description !== undefined ? { description: app.description } : {}),
      ...(app.public_addr !== undefined ? { public_addr: app.public_addr } : {}),
      ...(app.rewrite?.headers.length ? { rewrite_headers: app.rewrite.headers } : {}),
      ...(app.insecure_skip_verify ? { insecure_skip_verify: true } : {}),
    };
    return { resource, target: { host: uri.hostname.replace(/^\[|\]$/g, ''), port } };
  },
} as const satisfies AgentServed<AppEntry, AppAnnouncement>;

/** Web and TCP apps behind agents: reached in a browser, with curl, or through `postern proxy app`. */
export const APP = {
  kind: 'app',
  noun: 'app',
  plural: 'apps',
  labelField: 'app_labels',
  roleLists: [],
  admin: true,
  agent,
  ctl: { target: { header: 'URI', of: (r) => r.uri as string | undefined }, definedIn: "announced by agents; change it in its agent's configuration (agent.apps or --app)" },
} as const satisfies ResourceKindSpec<'app'>;
