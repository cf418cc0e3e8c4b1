import type { IncomingHttpHeaders } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { AccessTarget } from '../access/decide.js';
import { Counter, Gauge, Histogram, type Registry as MetricsRegistry } from 'prom-client';
import { isPosternError, PosternError } from '../errors/postern-error.js';
import type { Logger } from '../log/logger.js';
import type { Backend } from '../storage/backend.js';
import type { AgentTunnel } from './agent-tunnel.js';
import type { ProxySet } from './proxy-set.js';
import { announcementKey, RESOURCE_KEYS, type AnnouncedKind, type AnnouncedResource } from '../resources/table.js';
import { HEARTBEAT_MS, RESOURCE_TTL_MS } from '../wire/tunnel.js';

/** Records are rewritten this often even when nothing changed, well inside their expiry. */
const REFRESH_MS = 2 * HEARTBEAT_MS;

type Announced<K extends AnnouncedKind> = Extract<AnnouncedResource, { kind: K }>;

/** What storage keeps about an online agent. */
export interface AgentRecord {
  id: string;
  /** The proxy that holds this tunnel (one record per proxy). */
  proxy_id: string;
  name: string;
  roles: string[];
  resources: { kind: string; name: string }[];
  remote_addr: string;
  version: string;
  connected_at: string;
}

/**
 * The proxy's connected agents. It answers `dial(kind, name)` for every protocol handler from
 * memory (which tunnels serve what), and mirrors what is online into storage with an expiry, so
 * that a resource disappears within seconds when its agent does: at once when the tunnel closes,
 * or when the records expire if the whole proxy is gone.
 */
export class TunnelRegistry {
  private readonly byAgent = new Map<string, AgentTunnel>();
  private readonly byResource = new Map<string, Set<AgentTunnel>>();
  /** The byResource keys each tunnel is under, so re-indexing one tunnel touches only its own. */
  private readonly indexed = new Map<AgentTunnel, string[]>();
  private readonly written = new Map<AgentTunnel, { at: number; keys: Set<string> }>();
  /** A new tunnel's older one of the same agent, serving until the new one has announced. */
  private readonly predecessors = new Map<AgentTunnel, AgentTunnel>();
  /** Removals in flight, so shutdown can wait for their storage deletes. */
  private readonly removing = new Set<Promise<void>>();
  private readonly metrics;
  /** Bumped whenever what is served changes, so readers can cache their views of it. */
  private changes = 0;
  private readonly changeListeners = new Set<() => void>();

  constructor(
    private readonly backend: Backend,
    /** This proxy and the others: its id is in the records it writes, and agents hear of the rest. */
    readonly proxies: ProxySet,
    private readonly log: Logger,
    registry: MetricsRegistry,
  ) {
    const tunnels = this.byAgent;
    const streams = () => [...tunnels.values()].reduce((n, t) => n + t.openStreams, 0);
    this.metrics = {
      dialSeconds: new Histogram({ name: 'postern_tunnel_dial_duration_seconds', help: 'Time to open a stream to a resource through its agent.', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
      dialErrors: new Counter({ name: 'postern_tunnel_dial_errors_total', help: 'Dials that failed, by reason.', labelNames: ['reason'], registers: [registry] }),
    };
    new Gauge({ name: 'postern_tunnels_connected', help: 'Agents connected to this proxy now.', registers: [registry], collect() { this.set(tunnels.size); } });
    new Gauge({ name: 'postern_tunnel_streams_open', help: 'Streams open through agent tunnels now.', registers: [registry], collect() { this.set(streams()); } });
  }

  get size(): number {
    return this.byAgent.size;
  }

  get version(): number {
    return this.changes;
  }

  /** Called whenever what is served changes (an agent came, went, or announced something else); returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /**
   * Takes a new tunnel in. An older tunnel of the same agent (a reconnect, a renewal, another dial
   * the load balancer brought here) serves until the new one has announced its resources, then
   * drains: no new streams, its open ones run on (make before break: the agent's resources are
   * never offline in between). Should the new one close first, the older one stays.
   */
  add(tunnel: AgentTunnel): void {
    const previous = this.byAgent.get(tunnel.info.agentId);
    this.byAgent.set(tunnel.info.agentId, tunnel);
    if (previous && previous !== tunnel && !previous.closed) this.predecessors.set(tunnel, previous);
    tunnel.onClose(() => {
      const removal = this.remove(tunnel);
      this.removing.add(removal);
      void removal.finally(() => this.removing.delete(removal));
    });
  }

  /**
   * Called after each heartbeat. A new announcement re-indexes the tunnel and rewrites its records;
   * an unchanged one only renews their leases now and then (no write, so no watch event: a
   * thousand idle agents cost storage a few quiet updates a second, not a stream of events).
   */
  async update(tunnel: AgentTunnel, changed: boolean): Promise<void> {
    if (tunnel.closed || this.byAgent.get(tunnel.info.agentId) !== tunnel) return;
    const previous = this.written.get(tunnel);
    if (!changed && previous && Date.now() - previous.at < REFRESH_MS) return;
    if (changed) this.reindex(tunnel);
    const predecessor = this.predecessors.get(tunnel);
    if (predecessor) {
      this.predecessors.delete(tunnel);
      predecessor.close('replaced by a newer tunnel from the same agent', { drain: true });
      // The same agent announcing the same (a second dial the load balancer brought here): its
      // records stand as written, and their leases go on; a thousand agents seeking every proxy
      // would otherwise rewrite theirs at each landing.
      const inherited = this.written.get(predecessor);
      if (!previous && inherited && sameAnnouncements(predecessor, tunnel)) {
        this.written.set(tunnel, inherited);
        return;
      }
    }
    const keys = new Set(tunnel.resources.map((r) => RESOURCE_KEYS.online(r.kind, r.name, tunnel.info.agentId, this.proxies.id)));
    this.written.set(tunnel, { at: Date.now(), keys });
    const expires = new Date(Date.now() + RESOURCE_TTL_MS);
    try {
      if (changed || !previous) await this.record(tunnel, previous?.keys ?? new Set(), keys, expires);
      // Records that expired anyway (storage was slow, the clock jumped) are written again.
      else if ((await this.backend.touch([RESOURCE_KEYS.agent(tunnel.info.agentId, this.proxies.id), ...keys], expires)).length > 0) await this.record(tunnel, keys, keys, expires);
    } catch (err) {
      this.log.error('recording an agent in storage failed', { err, agent: tunnel.info.agentName });
    }
  }

  /** Every resource of a kind that some live agent serves now, once per name (as resolve() sees it), by name. */
  list<K extends AnnouncedKind>(kind: K): Announced<K>[] {
    const found: Announced<K>[] = [];
    for (const key of this.byResource.keys()) {
      if (!key.startsWith(`${kind}/`)) continue;
      const r = this.find(kind, key.slice(kind.length + 1));
      if (r) found.push(r);
    }
    return found.sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * What a live agent announced for a resource (its labels, URI), for authorizing before the dial.
   * Several agents may serve one name; the first to announce it is the one that counts, and only
   * agents whose announcement is the same are dialled (see dial). Fails fast, and is counted as a
   * dial error, when no agent serving it is connected.
   */
  resolve<K extends AnnouncedKind>(kind: K, name: string): Announced<K> {
    const found = this.find(kind, name);
    if (!found) throw this.offline(kind, name);
    return found;
  }

  /** Whether any agent ever announced this resource (to say "offline" rather than "unknown"). */
  async known(kind: AnnouncedKind, name: string): Promise<boolean> {
    return (await this.backend.get(RESOURCE_KEYS.seen(kind, name))) !== undefined;
  }

  /**
   * A byte stream to a resource, through a live agent that serves it (the least busy of several).
   * Only agents whose announcement is the one that was authorized (by default, resolve()'s) are
   * candidates: labels decide access, so an agent announcing the same name with other labels or
   * another target must not be where the stream lands. Fails fast when no such agent is connected.
   * `headers` go to the agent with the stream (a database's: the user's client certificate).
   */
  async dial(kind: AnnouncedKind, name: string, authorized: AnnouncedResource = this.resolve(kind, name), headers: Record<string, string> = {}, answered?: (headers: IncomingHttpHeaders) => void): Promise<Duplex> {
    const started = performance.now();
    const wanted = announcementKey(authorized);
    const candidates = [...(this.byResource.get(`${kind}/${name}`) ?? [])]
      .filter((t) => !t.closed && announcementKey(announcementOf(t, kind, name)) === wanted)
      .sort((a, b) => a.openStreams - b.openStreams);
    if (candidates.length === 0) throw this.offline(kind, name);
    let last: unknown;
    for (const tunnel of candidates) {
      try {
        const stream = await tunnel.open(kind, name, headers, answered);
        this.metrics.dialSeconds.observe((performance.now() - started) / 1000);
        return stream;
      } catch (err) {
        last = err;
        // Another agent may reach it: the high-availability case.
        this.log.debug('dial through one agent failed; trying the next', { err, agent: tunnel.info.agentName });
      }
    }
    this.metrics.dialErrors.inc({ reason: isPosternError(last) ? last.code.toLowerCase() : 'internal' });
    throw last;
  }

  /**
   * A resource as the access pipeline's authorizeLookup() asks for it: `find` resolves it (and
   * keeps the announcement in `found`, the one to dial), `current` reads its labels again at each
   * re-decision of a live grant.
   */
  target<K extends AnnouncedKind>(kind: K, name: string): { find(): Promise<AccessTarget>; current(): AccessTarget | undefined; found?: Announced<K> } {
    const lookup: { find(): Promise<AccessTarget>; current(): AccessTarget | undefined; found?: Announced<K> } = {
      find: async () => {
        lookup.found = this.resolve(kind, name);
        return { kind, name, labels: lookup.found.labels };
      },
      current: () => {
        const now = this.find(kind, name);
        return now && { kind, name, labels: now.labels };
      },
    };
    return lookup;
  }

  /** The announcement of the first live agent (in the order they announced) that serves the resource, if one does. */
  find<K extends AnnouncedKind>(kind: K, name: string): Announced<K> | undefined {
    for (const tunnel of this.byResource.get(`${kind}/${name}`) ?? []) {
      const found = !tunnel.closed && announcementOf(tunnel, kind, name);
      if (found) return found;
    }
    return undefined;
  }

  private offline(kind: AnnouncedKind, name: string): PosternError {
    this.metrics.dialErrors.inc({ reason: 'agent_offline' });
    const elsewhere = this.proxies.current.length > 1 ? ` to this proxy (${this.proxies.id}, one of ${this.proxies.current.length}; an agent that has just connected to another reaches this one within seconds)` : '';
    return new PosternError('AGENT_OFFLINE', `agent for ${kind} "${name}" is offline: no agent serving it is connected${elsewhere}`);
  }

  /** Closes every tunnel (proxy shutdown) and waits, a second at most, for their records to be deleted. */
  async closeAll(reason: string): Promise<void> {
    const closed = [...this.byAgent.values()].map((t) => new Promise<void>((resolve) => (t.closed ? resolve() : (t.onClose(() => resolve()), t.close(reason)))));
    await Promise.race([Promise.all(closed).then(() => Promise.all(this.removing)), new Promise((r) => setTimeout(r, 1000).unref())]);
  }

  private async remove(tunnel: AgentTunnel): Promise<void> {
    this.unindex(tunnel);
    const written = this.written.get(tunnel);
    this.written.delete(tunnel);
    if (this.byAgent.get(tunnel.info.agentId) !== tunnel) return; // a newer tunnel of the agent owns the records
    const predecessor = this.predecessors.get(tunnel);
    this.predecessors.delete(tunnel);
    if (predecessor && !predecessor.closed) {
      this.byAgent.set(tunnel.info.agentId, predecessor); // it never took over: the older one goes on, records and all
      return;
    }
    this.byAgent.delete(tunnel.info.agentId);
    try {
      for (const key of written?.keys ?? []) await this.backend.delete(key);
      await this.backend.delete(RESOURCE_KEYS.agent(tunnel.info.agentId, this.proxies.id));
    } catch (err) {
      this.log.warn('removing an agent from storage failed; its records expire on their own', { err, agent: tunnel.info.agentName });
    }
  }

  private async record(tunnel: AgentTunnel, before: Set<string>, now: Set<string>, expires: Date): Promise<void> {
    const { info } = tunnel;
    const agent: AgentRecord = {
      id: info.agentId,
      proxy_id: this.proxies.id,
      name: info.agentName,
      roles: info.roles,
      resources: tunnel.resources.map((r) => ({ kind: r.kind, name: r.name })),
      remote_addr: info.remoteAddr,
      version: tunnel.agentVersion,
      connected_at: tunnel.connectedAt.toISOString(),
    };
    await this.backend.put(RESOURCE_KEYS.agent(info.agentId, this.proxies.id), JSON.stringify(agent), { expires });
    for (const r of tunnel.resources) {
      const key = RESOURCE_KEYS.online(r.kind, r.name, info.agentId, this.proxies.id);
      await this.backend.put(key, JSON.stringify({ ...r, agent_id: info.agentId, agent_name: info.agentName, proxy_id: this.proxies.id }), { expires });
      if (!before.has(key)) await this.backend.put(RESOURCE_KEYS.seen(r.kind, r.name), JSON.stringify({ agent_name: info.agentName, at: new Date().toISOString() }));
    }
    for (const key of before) if (!now.has(key)) await this.backend.delete(key);
  }

  private index(key: string): Set<AgentTunnel> {
    let set = this.byResource.get(key);
    if (!set) this.byResource.set(key, (set = new Set()));
    return set;
  }

  private reindex(tunnel: AgentTunnel): void {
    this.unindex(tunnel);
    const indexKeys = tunnel.resources.map((r) => `${r.kind}/${r.name}`);
    for (const r of tunnel.resources) {
      const first = this.find(r.kind, r.name);
      if (first && announcementKey(first) !== announcementKey(r)) {
        this.log.warn(`agent ${tunnel.info.agentName} announces ${r.kind} "${r.name}" differently (labels, target or options) from the agent that announced it first; streams go only to agents that agree with the first. Give every agent of one resource the same configuration`, { kind: r.kind, name: r.name, agent: tunnel.info.agentName });
      }
    }
    for (const key of indexKeys) this.index(key).add(tunnel);
    this.indexed.set(tunnel, indexKeys);
  }

  private unindex(tunnel: AgentTunnel): void {
    this.changes++;
    for (const listener of this.changeListeners) listener();
    for (const key of this.indexed.get(tunnel) ?? []) {
      const set = this.byResource.get(key);
      if (set?.delete(tunnel) && set.size === 0) this.byResource.delete(key);
    }
    this.indexed.delete(tunnel);
  }
}

function sameAnnouncements(a: AgentTunnel, b: AgentTunnel): boolean {
  const keys = (t: AgentTunnel) => t.resources.map(announcementKey).sort().join('\n');
  return keys(a) === keys(b);
}

function announcementOf<K extends AnnouncedKind>(tunnel: AgentTunnel, kind: K, name: string): Announced<K> | undefined {
  return tunnel.resources.find((r): r is Announced<K> => r.kind === kind && r.name === name);
}

