import type { SecureContext } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { Logger } from '../../log/logger.js';
import type { AcmeCertificate } from './acme-certificates.js';
import { AppCertificates, RETRY_AFTER_FAILURE_MS, type NameCertificates } from './app-certificates.js';

const HOUR = 3_600_000;

/** An ACME account for the test: orders settle when the test says, and each is counted. */
class Orders {
  readonly made: string[] = [];
  readonly disk = new Map<string, AcmeCertificate>();
  private readonly waiting: { name: string; settle(cert?: AcmeCertificate): void }[] = [];
  constructor(private readonly clock: { now: number }) {}

  forName = (name: string): NameCertificates => ({
    stored: () => this.disk.get(name),
    obtain: () => {
      this.made.push(name);
      return new Promise<AcmeCertificate>((resolve, reject) => this.waiting.push({ name, settle: (cert) => (cert ? resolve(cert) : reject(new Error('the CA said no'))) }));
    },
  });

  /** Settles the oldest waiting order: issued (a certificate named `pem`) or failed. */
  settle(pem?: string): void {
    const order = this.waiting.shift()!;
    order.settle(pem ? this.cert(pem) : undefined);
  }

  cert(pem: string, lifeMs = 90 * 24 * HOUR): AcmeCertificate {
    const now = this.clock.now;
    return { certPem: pem, keyPem: 'key', notAfter: new Date(now + lifeMs), renewAt: new Date(now + lifeMs - 30 * 24 * HOUR) };
  }
}

/** `kept`: certificates an earlier start left on disk, by name: [pem, life]. */
function setup(opts: { holdMs?: number; kept?: Record<string, [string, number?]> } = {}) {
  const clock = { now: Date.now() };
  const orders = new Orders(clock);
  for (const [name, [pem, life]] of Object.entries(opts.kept ?? {})) orders.disk.set(name, orders.cert(pem, life));
  const certs = new AppCertificates({
    isAppHost: (name) => name.endsWith('.apps.test'),
    kept: Object.keys(opts.kept ?? {}),
    forName: orders.forName,
    context: (c) => ({ served: c.certPem }) as unknown as SecureContext,
    holdMs: opts.holdMs ?? 1000,
    log: new Logger({ level: 'error', format: 'json', sink: { write: () => {} } }),
    now: () => clock.now,
  });
  const select = (name: string) =>
    new Promise<string | undefined>((resolve, reject) => certs.select(name, (err, ctx) => (err ? reject(err) : resolve((ctx as unknown as { served: string } | undefined)?.served))));
  return { clock, orders, select };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('AppCertificates: an ACME certificate per app name, ordered on first use', () => {
  it('orders nothing for a name that is no app: the default certificate', async () => {
    const { orders, select } = setup();
    expect(await select('random.example.com')).toBeUndefined();
    expect(orders.made).toEqual([]);
  });

  it('holds the first handshakes for one order, then serves its certificate from memory', async () => {
    const { orders, select } = setup();
    const first = select('grafana.apps.test');
    const second = select('GRAFANA.apps.test');
    await tick();
    expect(orders.made).toEqual(['grafana.apps.test']);
    orders.settle('grafana-1');
    expect([await first, await second]).toEqual(['grafana-1', 'grafana-1']);
    expect(await select('grafana.apps.test')).toBe('grafana-1');
    expect(orders.made).toHaveLength(1);
  });

  it('serves the default certificate when the order takes longer than the hold, and the issued one next', async () => {
    const { orders, select } = setup({ holdMs: 20 });
    expect(await select('wiki.apps.test')).toBeUndefined();
    orders.settle('wiki-1');
    await tick();
    expect(await select('wiki.apps.test')).toBe('wiki-1');
    expect(orders.made).toEqual(['wiki.apps.test']);
  });

  it('serves certificates kept on disk without ordering, for apps offline too', async () => {
    const { orders, select } = setup({ kept: { 'kept.apps.test': ['kept-1'], 'gone.elsewhere.test': ['gone-1'] } });
    expect(await select('kept.apps.test')).toBe('kept-1');
    expect(await select('gone.elsewhere.test')).toBe('gone-1');
    expect(orders.made).toEqual([]);
  });

  it('keeps serving a certificate due for renewal while the next is ordered, then the new one', async () => {
    const { clock, orders, select } = setup({ kept: { 'old.apps.test': ['old-1', 20 * 24 * HOUR] } }); // inside the 30 days before expiry
    expect(await select('old.apps.test')).toBe('old-1');
    expect(await select('old.apps.test')).toBe('old-1');
    expect(orders.made).toEqual(['old.apps.test']);
    orders.settle('old-2');
    await tick();
    expect(await select('old.apps.test')).toBe('old-2');
    // An expired one is never served: the handshake waits for a new order.
    clock.now += 91 * 24 * HOUR;
    const next = select('old.apps.test');
    await tick();
    orders.settle('old-3');
    expect(await next).toBe('old-3');
  });

  it('after a failed order, waits before ordering that name again', async () => {
    const { clock, orders, select } = setup();
    const first = select('broken.apps.test');
    await tick();
    orders.settle();
    expect(await first).toBeUndefined();
    expect(await select('broken.apps.test')).toBeUndefined();
    expect(orders.made).toHaveLength(1);
    clock.now += RETRY_AFTER_FAILURE_MS;
    const again = select('broken.apps.test');
    await tick();
    expect(orders.made).toHaveLength(2);
    orders.settle('broken-1');
    expect(await again).toBe('broken-1');
  });
});
