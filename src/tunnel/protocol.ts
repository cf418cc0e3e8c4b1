import { z } from 'zod';
import { PUBLIC_ADDR } from '../net/addr.js';
import { bulkSettings } from '../net/h2-flow.js';
import { TUNER_DEFAULTS } from '../net/window-tuner.js';

/**
 * The reverse tunnel's wire contract (DESIGN.md §6), shared by both ends. The agent dials the
 * proxy (TLS, ALPN postern-reversetunnel, its host certificate); on that socket the roles flip:
 * the proxy is the HTTP/2 client and the agent the HTTP/2 server.
 *
 * - `CONNECT` with the resource in headers: a byte stream to that resource's target. The agent
 *   answers 200 and relays, or an error status with a reason; it only serves what it announced.
 * - `GET /v1/resources?after=N`: what the agent serves. Answered at once when the agent's
 *   version is past N, else when it changes or after HEARTBEAT_MS: a long poll that is both the
 *   announcement channel and the heartbeat.
 * - On refusal the proxy sends GOAWAY with the error (JSON) as debug data, so the agent can say
 *   why instead of seeing a bare close.
 */
export const HEADER_KIND = 'postern-kind';
export const HEADER_NAME = 'postern-name';
export const HEADER_ERROR = 'postern-error';
export const RESOURCES_PATH = '/v1/resources';

/** How long the agent holds a resource poll with no change before answering anyway. */
export const HEARTBEAT_MS = 5_000;
/** A tunnel that has not completed a poll for this long is dead (both ends close it). */
export const DEAD_AFTER_MS = 3 * HEARTBEAT_MS;
/** How long a resource record outlives its last heartbeat in storage (a proxy that died cannot delete it). */
export const RESOURCE_TTL_MS = 3 * HEARTBEAT_MS;

/**
 * HTTP/2 settings for both ends of a tunnel (flow control: net/h2-flow.ts). Streams start with the
 * tuner's floor for a window, and each end's WindowTuner moves it with the round trip it measures.
 */
export const H2_SETTINGS = { ...bulkSettings(10_000), initialWindowSize: TUNER_DEFAULTS.floor };

/** What an agent announces; checked on the proxy, since it comes off the network. */
export const announcedResource = z.object({
  kind: z.enum(['app', 'node', 'db']),
  name: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/),
  labels: z.record(z.string().max(63), z.string().max(256)),
  description: z.string().max(1024).optional(),
  /** Apps: http(s):// or tcp:// URI of the target, as the agent reaches it. */
  uri: z.string().max(2048).optional(),
  /** Apps: a public address of their own instead of <name>.<proxy host>. */
  public_addr: z.string().max(259).regex(PUBLIC_ADDR).optional(),
  /** Databases: postgres | mysql | mongodb. */
  protocol: z.string().max(32).optional(),
  /** Apps: headers the proxy adds to every request, `Name: value` with trait templates. */
  rewrite_headers: z.array(z.string().max(1024)).max(64).optional(),
  /** https:// apps: the proxy accepts any certificate from the app (a self-signed internal app). */
  insecure_skip_verify: z.boolean().optional(),
});
export type AnnouncedResource = z.output<typeof announcedResource>;

const announcementKeys = new WeakMap<AnnouncedResource, string>();

/**
 * An announcement as a string that is equal for equal announcements, whatever their keys' order.
 * Announcements are never changed once parsed (a new one replaces them), so the key is kept.
 */
export function announcementKey(resource: AnnouncedResource | undefined): string {
  if (!resource) return '';
  let key = announcementKeys.get(resource);
  if (key === undefined) {
    key = JSON.stringify(resource, (_name, value: unknown) =>
      value && typeof value === 'object' && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b))) : value,
    );
    announcementKeys.set(resource, key);
  }
  return key;
}
export type ResourceKind = AnnouncedResource['kind'];

/** Which join-token role lets an agent serve each kind of resource (its host certificate lists its roles). */
export const ROLE_OF_KIND = { app: 'app', node: 'ssh', db: 'db' } as const satisfies Record<ResourceKind, string>;

/** The envelope; each resource is checked on its own (acceptResources), so one bad entry does not take the tunnel down. */
export const resourcesMessage = z.object({
  version: z.number().int(),
  agent: z.object({ name: z.string().max(253), version: z.string().max(64) }),
  resources: z.array(z.unknown()).max(10_000),
});
export interface ResourcesMessage {
  version: number;
  agent: { name: string; version: string };
  resources: AnnouncedResource[];
}

/**
 * The announced resources the proxy takes from an agent: well-formed, and of a kind its
 * certificate's roles allow (a token for SSH nodes does not let the agent publish apps). The
 * rest are left out, each with the reason, for the log.
 */
export function acceptResources(announced: unknown[], roles: readonly string[]): { accepted: AnnouncedResource[]; refused: string[] } {
  const accepted: AnnouncedResource[] = [];
  const refused: string[] = [];
  announced.forEach((raw, i) => {
    const parsed = announcedResource.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      refused.push(`resource ${i + 1}: ${issue.path.join('.') || '(entry)'}: ${issue.message}`);
      return;
    }
    const r = parsed.data;
    const role = ROLE_OF_KIND[r.kind];
    if (!roles.includes(role)) refused.push(`${r.kind} "${r.name}": the agent's certificate allows ${roles.join(', ') || 'nothing'}, not ${role}; join it with a token of type ${role}`);
    else accepted.push(r);
  });
  return { accepted, refused };
}
