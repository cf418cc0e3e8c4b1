import { randomUUID } from 'node:crypto';
import type { Logger } from '../log/logger.js';
import type { Backend, Watcher } from '../storage/backend.js';

/** What a proxy records about itself: see ProxySet. */
export interface ProxyRecord {
  id: string;
  public_addr: string;
  /** The address its listener is bound to on its host. */
  listen_addr: string;
  started: string;
}

export const PROXY_KEYS = { prefix: '/proxies/', proxy: (id: string) => `/proxies/${id}` };

/** A proxy's record is renewed this often, and expires after three missed renewals (a proxy killed cannot delete it). */
const BEAT_MS = 5_000;
const TTL_MS = 3 * BEAT_MS;

/**
 * The proxies of the cluster as the store knows them: each proxy records itself (a random id per
 * process, its addresses) with an expiry it renews, and follows the others' records (a watch, and
 * a full read at each beat).
 * Agents learn the set from their tunnels (see the tunnel wire contract) and keep a tunnel to each.
 */
export class ProxySet {
  readonly id = randomUUID();
  private ids: string[] = [this.id];
  private readonly timer: NodeJS.Timeout;
  private readonly record: ProxyRecord;
  private watcher: Watcher | undefined;

  constructor(
    private readonly backend: Backend,
    addrs: { publicAddr: string; listenAddr: string },
    private readonly log: Logger,
  ) {
    this.record = { id: this.id, public_addr: addrs.publicAddr, listen_addr: addrs.listenAddr, started: new Date().toISOString() };
    this.timer = setInterval(() => void this.beat(), BEAT_MS).unref();
  }

  /**
   * Records this proxy (the first beat, awaited), then follows the others' records as they come
   * and go; each beat reads them all again, which also mends what a lost watch missed.
   */
  async start(): Promise<void> {
    await this.beat();
    const watcher = (this.watcher = this.backend.watch(PROXY_KEYS.prefix));
    void (async () => {
      try {
        for await (const event of watcher) {
          const id = (event.type === 'put' ? event.item.key : event.key).slice(PROXY_KEYS.prefix.length);
          if (event.type === 'put' && !this.ids.includes(id)) this.ids = [...this.ids, id];
          if (event.type === 'delete' && id !== this.id) this.ids = this.ids.filter((known) => known !== id);
        }
      } catch {
        // Ended (the store away, or fallen behind): the beats keep the set.
      }
    })();
  }

  /** The live proxies' ids, this one's included (as of the last beat). */
  get current(): readonly string[] {
    return this.ids;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.watcher?.close();
    await this.backend.delete(PROXY_KEYS.proxy(this.id)).catch(() => {});
  }

  private async beat(): Promise<void> {
    try {
      const expires = new Date(Date.now() + TTL_MS);
      if ((await this.backend.touch([PROXY_KEYS.proxy(this.id)], expires)).length > 0) {
        await this.backend.put(PROXY_KEYS.proxy(this.id), JSON.stringify(this.record), { expires });
      }
      const live = (await this.backend.range(PROXY_KEYS.prefix)).map((i) => (JSON.parse(i.value) as ProxyRecord).id);
      this.ids = live.includes(this.id) ? live : [...live, this.id];
    } catch (err) {
      // The store is away: keep the last set; agents keep the tunnels they have.
      this.log.warn('recording this proxy in storage failed; retrying at the next beat', { err });
    }
  }
}
