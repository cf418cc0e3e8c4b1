import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { PosternError } from '../errors/postern-error.js';
import type { Logger } from '../log/logger.js';
import { widenSessionWindow } from '../net/h2-flow.js';
import { WindowTuner } from '../net/window-tuner.js';
import { acceptResources, type AnnouncedKind, type AnnouncedResource } from '../resources/table.js';
import { DEAD_AFTER_MS, errorReason, HEADER_ERROR, HEADER_KIND, HEADER_NAME, HEADER_PROXIES, HEADER_PROXY_ID, RESOURCES_PATH, resourcesMessage } from '../wire/tunnel.js';
import type { ProxySet } from './proxy-set.js';
import { H2_SETTINGS } from './h2-settings.js';

/** How long a dial waits for the agent to say whether it reached the target. */
const DIAL_TIMEOUT_MS = 10_000;
/** A draining tunnel's agent is pinged this often, and given this long to answer. */
const DRAIN_PING_EVERY_MS = 15_000;
const DRAIN_PING_TIMEOUT_MS = 10_000;

export interface TunnelInfo {
  agentId: string;
  agentName: string;
  roles: string[];
  remoteAddr: string;
}

/**
 * One agent's reverse tunnel, on the proxy: an HTTP/2 client session over the socket the agent
 * dialled in on. It keeps a long poll open for the agent's resources (which doubles as the
 * heartbeat) and opens a CONNECT stream per dial.
 */
export class AgentTunnel {
  readonly connectedAt = new Date();
  resources: AnnouncedResource[] = [];
  agentVersion = '';
  openStreams = 0;
  private readonly session: ClientHttp2Session;
  /** Sizes the windows of streams to this agent (those carry downloads: the proxy receives). */
  private readonly tuner: WindowTuner;
  /** The heartbeat poll in flight, cancelled on close so a graceful close need not wait for it. */
  private poll: ClientHttp2Stream | undefined;
  private closedReason: string | undefined;
  private readonly closeListeners: ((reason: string) => void)[] = [];

  constructor(
    readonly info: TunnelInfo,
    socket: TLSSocket,
    private readonly log: Logger,
    private readonly onResources: (tunnel: AgentTunnel, changed: boolean) => void,
    /** Told to the agent with each poll, so it keeps a tunnel to every proxy. */
    private readonly proxies?: ProxySet,
  ) {
    // The authority is never sent anywhere; http: makes Node speak HTTP/2 straight over the socket.
    this.session = connect('http://agent.postern.invalid', { createConnection: () => socket, settings: H2_SETTINGS });
    this.session.on('error', (err) => this.log.debug('tunnel session error', { err }));
    widenSessionWindow(this.session);
    this.tuner = new WindowTuner(this.session, socket);
    this.session.once('close', () => this.finish(this.closedReason ?? 'the agent disconnected'));
    void this.pollResources();
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  onClose(listener: (reason: string) => void): void {
    this.closeListeners.push(listener);
  }

  /**
   * Ends the tunnel: no new streams. Closed, open streams get two seconds (a revocation, a
   * shutdown). Drained (replaced by a newer tunnel of the same agent: a renewal, or a second dial
   * that the load balancer brought to this proxy again), open streams run to their end, as long
   * as the agent answers pings.
   */
  close(reason: string, opts: { drain?: boolean } = {}): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.poll?.close(constants.NGHTTP2_CANCEL);
    this.session.close();
    if (!opts.drain) {
      // A session whose peer stopped answering would wait for its streams forever.
      setTimeout(() => this.session.destroy(), 2000).unref();
      return;
    }
    const check = setInterval(() => {
      const silent = setTimeout(() => this.session.destroy(), DRAIN_PING_TIMEOUT_MS).unref();
      const sent = this.session.ping((err) => (err ? this.session.destroy() : clearTimeout(silent)));
      if (!sent) this.session.destroy();
    }, DRAIN_PING_EVERY_MS).unref();
    this.session.once('close', () => clearInterval(check));
  }

  /** Opens a byte stream to the target of one of the agent's resources. */
  /** A stream to a resource the agent serves; `answered` hears the agent's answer's headers (a database's ids). */
  open(kind: AnnouncedKind, name: string, headers: Record<string, string> = {}, answered?: (headers: IncomingHttpHeaders) => void): Promise<ClientHttp2Stream> {
    return new Promise((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = this.session.request({ ...headers, ':method': 'CONNECT', ':authority': `${name}.${kind}:1`, [HEADER_KIND]: kind, [HEADER_NAME]: name });
      } catch (err) {
        reject(new PosternError('AGENT_OFFLINE', `the tunnel to agent ${this.info.agentName} is closing (${(err as Error).message})`));
        return;
      }
      const timer = setTimeout(() => {
        stream.close(constants.NGHTTP2_CANCEL);
        reject(new PosternError('TARGET_UNREACHABLE', `agent ${this.info.agentName} did not answer within ${DIAL_TIMEOUT_MS / 1000} s`));
      }, DIAL_TIMEOUT_MS);
      stream.once('response', (headers) => {
        clearTimeout(timer);
        if (headers[':status'] === 200) {
          answered?.(headers);
          this.openStreams++;
          this.tuner.track(stream);
          stream.once('close', () => this.openStreams--);
          resolve(stream);
          return;
        }
        stream.close();
        const why = errorReason(String(headers[HEADER_ERROR] ?? `status ${headers[':status']}`));
        reject(new PosternError('TARGET_UNREACHABLE', `agent ${this.info.agentName} could not connect to ${kind} "${name}": ${why}`));
      });
      stream.once('error', (err) => {
        clearTimeout(timer);
        reject(new PosternError('AGENT_OFFLINE', `the tunnel to agent ${this.info.agentName} failed: ${err.message}`));
      });
    });
  }

  /** The long poll: each answer is a heartbeat; a new version is a new list of resources. */
  private async pollResources(): Promise<void> {
    let version = -1;
    while (!this.closed) {
      try {
        const message = resourcesMessage.parse(await this.get(`${RESOURCES_PATH}?after=${version}`));
        this.agentVersion = message.agent.version;
        const changed = message.version !== version;
        if (changed) {
          version = message.version;
          const { accepted, refused } = acceptResources(message.resources, this.info.roles);
          if (refused.length) this.log.warn(`left out ${refused.length} of the agent's resources: ${refused.join('; ')}`, { refused });
          this.resources = accepted;
        }
        this.onResources(this, changed);
      } catch (err) {
        if (!this.closed) this.close(`no heartbeat: ${(err as Error).message}`);
      }
    }
  }

  private get(path: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const cluster = this.proxies ? { [HEADER_PROXY_ID]: this.proxies.id, [HEADER_PROXIES]: this.proxies.current.join(',') } : {};
      const req = (this.poll = this.session.request({ ':method': 'GET', ':path': path, ...cluster }));
      req.setTimeout(DEAD_AFTER_MS, () => req.close(constants.NGHTTP2_CANCEL));
      let body = '';
      let status = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        if (status !== 200) return reject(new Error(`the agent answered ${path} with ${status}`));
        try {
          resolve(JSON.parse(body));
        } catch {
          reject(new Error(`the agent sent malformed JSON for ${path}`));
        }
      });
      req.on('close', () => reject(new Error('the request was closed before an answer')));
      req.on('error', reject);
      req.end();
    });
  }

  private finish(reason: string): void {
    this.closedReason ??= reason;
    for (const listener of this.closeListeners.splice(0)) listener(this.closedReason);
  }
}
