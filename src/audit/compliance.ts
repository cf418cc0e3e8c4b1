import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isPosternError } from '../errors/postern-error.js';
import type { AuditEvent, AuditEventInput, AuditFollower, AuditLog } from './audit-log.js';

export interface AuditComplianceTarget {
  /** Runs before each test: what fresh() needs made first (a database on a server, say). */
  prepare?(): Promise<void>;
  /** A new, empty store for one test. */
  fresh(): AuditComplianceStore;
}

export interface AuditComplianceStore {
  /** Another client of the store (as another process would open it). */
  open(opts?: { pollIntervalMs?: number }): AuditLog;
  /** Makes the store refuse writes (its table dropped under the log). */
  breakWrites(): Promise<void>;
  /** What a write to the broken store says. */
  brokenWrite: RegExp;
  /** Appends `count` token.used events named t0… from a separate Node process, as `postern ctl` would. */
  appendFromAnotherProcess(count: number): Promise<void>;
}

/** The behaviour every AuditLog must have. Call it from each implementation's test file. */
export function auditLogComplianceSuite(name: string, target: AuditComplianceTarget): void {
  describe(`${name} audit log compliance`, () => {
    const opened: AuditLog[] = [];
    let store: AuditComplianceStore;
    const open = (opts?: { pollIntervalMs?: number }) => {
      if (opened.length === 0) store = target.fresh();
      const log = store.open(opts);
      opened.push(log);
      return log;
    };
    beforeEach(async () => {
      await target.prepare?.();
    });
    afterEach(async () => {
      vi.useRealTimers();
      await Promise.all(opened.splice(0).map((l) => l.close()));
    });

    /** Emits `input` with the clock at `iso`. */
    async function emitAt(log: AuditLog, iso: string, input: AuditEventInput): Promise<AuditEvent> {
      vi.setSystemTime(new Date(iso));
      return log.emit(input);
    }

    it('fills in code, time, uid and a rising index, and returns what it stored', async () => {
      const log = open();
      const first = await log.emit({ event: 'user.login.failed', user: 'alice', remote_addr: '203.0.113.7:5000', reason: 'bad password' });
      const second = await log.emit({ event: 'cert.issued', user: 'alice', cert_kind: 'user', ttl: '12h', roles: ['dev'], serial: '0a1b' });
      expect(first).toMatchObject({ event: 'user.login.failed', code: 'PA1000W', user: 'alice', remote_addr: '203.0.113.7:5000', reason: 'bad password' });
      expect(second.code).toBe('PA1100I');
      expect(first.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(first.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(second.uid).not.toBe(first.uid);
      expect(second.index).toBeGreaterThan(first.index);
      expect(await log.query({})).toEqual([first, second]);
    });

    it('filters by time range, types and user, and honours limit and order', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      const log = open();
      const a = await emitAt(log, '2025-03-01T09:00:00.000Z', { event: 'user.login', user: 'alice' });
      const b = await emitAt(log, '2025-03-01T10:00:00.000Z', { event: 'user.login.failed', user: 'bob', reason: 'locked' });
      const c = await emitAt(log, '2025-03-01T11:00:00.000Z', { event: 'role.create', user: 'alice', name: 'dev' });
      const d = await emitAt(log, '2025-03-01T12:00:00.000Z', { event: 'user.login', user: 'bob' });
      const at = (iso: string) => new Date(iso);

      // since is inclusive, until exclusive.
      expect(await log.query({ since: at('2025-03-01T10:00:00.000Z'), until: at('2025-03-01T12:00:00.000Z') })).toEqual([b, c]);
      expect(await log.query({ types: ['user.login', 'user.login.failed'] })).toEqual([a, b, d]);
      expect(await log.query({ types: [] })).toEqual([a, b, c, d]);
      expect(await log.query({ user: 'alice' })).toEqual([a, c]);
      expect(await log.query({ user: 'bob', types: ['user.login'], since: at('2025-03-01T09:30:00.000Z') })).toEqual([d]);
      expect(await log.query({ order: 'desc', limit: 2 })).toEqual([d, c]);
      expect(await log.query({ limit: 2 })).toEqual([a, b]);
    });

    it('limits a query to 1000 events unless told otherwise', async () => {
      const log = open();
      await Promise.all(Array.from({ length: 1001 }, (_, i) => log.emit({ event: 'token.used', name: `t${i}` })));
      expect(await log.query({})).toHaveLength(1000);
      expect(await log.query({ limit: 2000 })).toHaveLength(1001);
    });

    it('redacts secret-looking fields, drops what JSON cannot carry, and keeps its own fields its own', async () => {
      const log = open();
      const cycle: Record<string, unknown> = {};
      cycle.self = cycle;
      const input = {
        event: 'user.password.set',
        user: 'admin',
        name: 'alice',
        password: 'hunter2',
        detail: { token: 'abc', ca_key: 'k', ok: 1 },
        expires: new Date('2025-03-01T09:00:00.000Z'),
        big: 10n,
        fn: () => 1,
        cycle,
        code: 'PA9999I',
        index: -1,
      } as const satisfies AuditEventInput;
      const event = await log.emit(input);
      const expected = {
        event: 'user.password.set',
        code: 'PA1203I',
        user: 'admin',
        name: 'alice',
        password: '[redacted]',
        detail: { token: '[redacted]', ca_key: '[redacted]', ok: 1 },
        expires: '2025-03-01T09:00:00.000Z',
      };
      expect(event).toMatchObject(expected);
      expect(Object.keys(event).sort()).toEqual([...Object.keys(expected), 'time', 'uid', 'index'].sort());
      expect(event.index).toBeGreaterThan(0);
      expect(await log.query({})).toEqual([event]);
    });

    it('refuses an event type that is not in the table', async () => {
      const log = open();
      await expect(log.emit({ event: 'user.teleported' } as unknown as AuditEventInput)).rejects.toSatisfy((e) => isPosternError(e, 'INTERNAL'));
      expect(await log.query({})).toEqual([]);
    });

    it('writes appends together, and close() writes the ones nobody waited for', async () => {
      const log = open();
      const first = log.emit({ event: 'lock.create', user: 'admin', name: 'a' });
      const second = log.emit({ event: 'lock.create', user: 'admin', name: 'b' });
      expect((await first).index + 1).toBe((await second).index);
      // Fired and forgotten (as a tunnel's start event is), then the process shuts down.
      void log.emit({ event: 'lock.delete', user: 'admin', name: 'a' });
      await log.close();
      const reopened = open();
      expect((await reopened.query({})).map((e) => e.event)).toEqual(['lock.create', 'lock.create', 'lock.delete']);
    });

    it('appends without a promise (written with a later batch), and reports what cannot be written to the callback', async () => {
      const log = open();
      const failures: Error[] = [];
      const failed = (err: Error) => failures.push(err);
      log.append({ event: 'db.query', user: 'alice', db: 'orders', query: 'select 1', protocol: 'simple', at: new Date('2025-03-01T09:00:00.000Z'), password: 'x' }, failed);
      log.append({ event: 'db.teleport' } as unknown as AuditEventInput, failed);
      expect(failures.map((e) => e.message)).toEqual(['"db.teleport" is not an audit event type; add it to src/audit/events.ts']);
      await vi.waitFor(async () => expect(await log.query({})).toHaveLength(1), { timeout: 2000, interval: 20 });
      expect((await log.query({}))[0]).toMatchObject({ event: 'db.query', code: expect.any(String), user: 'alice', query: 'select 1', at: '2025-03-01T09:00:00.000Z', password: '[redacted]' });

      // A store that refuses the write (its table gone under it): each event of the batch is reported.
      await store.breakWrites();
      log.append({ event: 'db.query', user: 'alice', query: 'select 2' }, failed);
      const emitted = log.emit({ event: 'db.query', user: 'alice', query: 'select 3' });
      await expect(emitted).rejects.toSatisfy((e) => isPosternError(e, 'STORAGE_UNAVAILABLE') && store.brokenWrite.test((e as Error).message));
      expect(failures).toHaveLength(2);
      expect(isPosternError(failures[1], 'STORAGE_UNAVAILABLE')).toBe(true);
    });

    it('writes a series: each event the base and its own fields, a line break in a statement kept, what fails reported', async () => {
      const log = open();
      const failures: Error[] = [];
      const statements = log.series({ event: 'db.query', user: 'alice', db: 'orders', db_user: 'alice' }, (err) => failures.push(err));
      statements.append({ query: 'select 1', protocol: 'simple' });
      statements.append({ query: 'select $1\n  from "t"', protocol: 'extended', parameters: 1 });
      await vi.waitFor(async () => expect(await log.query({ types: ['db.query'], user: 'alice' })).toHaveLength(2), { timeout: 2000, interval: 20 });
      const [first, second] = await log.query({});
      expect(first).toMatchObject({ event: 'db.query', user: 'alice', db: 'orders', db_user: 'alice', query: 'select 1', protocol: 'simple', index: expect.any(Number), uid: expect.any(String) });
      expect(second).toMatchObject({ query: 'select $1\n  from "t"', parameters: 1 });
      expect(second!.index).toBeGreaterThan(first!.index);

      log.series({ event: 'db.teleport' } as unknown as AuditEventInput, (err) => failures.push(err)).append({ query: 'x' });
      await log.close();
      statements.append({ query: 'select 3' });
      expect(failures.map((e) => e.message)).toEqual(['"db.teleport" is not an audit event type; add it to src/audit/events.ts', 'the audit log is closed']);
    });

    it('gives a batch of many rows (multi-row inserts and single ones) the indexes queries read back', async () => {
      const log = open();
      const statements = log.series({ event: 'db.query', user: 'alice', db: 'orders' }, (err) => expect.fail(err.message));
      const emitted: Promise<AuditEvent>[] = [];
      // 3 × 33 = 99 rows in one batch: three 32-row inserts and three single ones, interleaved.
      for (let i = 0; i < 33; i++) {
        statements.append({ query: `select ${i}` });
        emitted.push(log.emit({ event: 'token.used', name: `t${i}` }));
        statements.append({ query: `select ${i} + 1` });
      }
      // The emits' batch holds the appends before them and the one after the last.
      const tokens = await Promise.all(emitted);
      const stored = await log.query({});
      expect(stored).toHaveLength(99);
      expect(stored.map((e) => e.index)).toEqual(stored.map((_, i) => stored[0]!.index + i));
      expect(stored.filter((e) => e.event === 'token.used')).toEqual(tokens);
      expect(stored.filter((e) => e.event === 'db.query').map((e) => e.query)).toEqual(Array.from({ length: 33 }, (_, i) => [`select ${i}`, `select ${i} + 1`]).flat());
    });

    it("sees this process's events at once, from its creation on, filtered by type and user", async () => {
      const log = open({ pollIntervalMs: 60_000 }); // no poll within the test: only the emits can wake followers
      await log.emit({ event: 'user.login', user: 'alice' });
      const all = log.follow({});
      const logins = log.follow({ types: ['user.login'] });
      const bob = log.follow({ user: 'bob' });
      // Waiting before the emits: the followers must be woken, not just read the table once.
      const taken = [take(all, 4, 1000), take(logins, 2, 1000), take(bob, 2, 1000)];
      await new Promise((r) => setTimeout(r, 20));
      const emitted = [
        await log.emit({ event: 'user.login', user: 'bob' }),
        await log.emit({ event: 'session.start', user: 'alice' }),
        await log.emit({ event: 'user.login', user: 'carol' }),
        await log.emit({ event: 'session.end', user: 'bob' }),
      ];
      expect(await Promise.all(taken)).toEqual([emitted, [emitted[0], emitted[2]], [emitted[0], emitted[3]]]);
    });

    it('starts at `since` when given, then goes on with new events, without a gap or a repeat', async () => {
      const log = open();
      await log.emit({ event: 'user.login', user: 'early' });
      await new Promise((r) => setTimeout(r, 20));
      const since = new Date();
      const backlog = [await log.emit({ event: 'user.login', user: 'a' }), await log.emit({ event: 'user.logout', user: 'a' })];
      const follower = log.follow({ since, types: ['user.login'] });
      const fresh = await log.emit({ event: 'user.login', user: 'b' });
      expect(await take(follower, 2, 1000)).toEqual([backlog[0], fresh]);
    });

    it("sees another process's events within a second, in order", async () => {
      const log = open();
      const follower = log.follow({ types: ['token.used'] });
      const count = 20;
      const taken = take(follower, count, 10_000);
      await store.appendFromAnotherProcess(count);
      const events = await taken;
      expect(events.map((e) => e.name)).toEqual(Array.from({ length: count }, (_, i) => `t${i}`));
      const indexes = events.map((e) => e.index);
      expect(indexes).toEqual([...indexes].sort((x, y) => x - y));
      // The other process's last append reached this one within a second (the poll runs every 200 ms).
      expect(Date.now() - Date.parse(events.at(-1)!.time)).toBeLessThan(1000);
    }, 30_000);

    it('ends the iteration on close(), also one waiting for an event, and when the log closes', async () => {
      const log = open();
      const follower = log.follow({});
      const waiting = follower[Symbol.asyncIterator]().next();
      follower.close();
      expect(await waiting).toEqual({ value: undefined, done: true });

      const another = log.follow({});
      const iterated = (async () => {
        const seen: AuditEvent[] = [];
        for await (const e of another) seen.push(e);
        return seen;
      })();
      const event = await log.emit({ event: 'user.invite', user: 'admin', name: 'dave' });
      await new Promise((r) => setTimeout(r, 20));
      await log.close();
      expect(await iterated).toEqual([event]);
    });
  });
}

/** The next `n` events of `follower`, failing after `timeoutMs`. */
async function take(follower: AuditFollower, n: number, timeoutMs: number): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  const it = follower[Symbol.asyncIterator]();
  const deadline = Date.now() + timeoutMs;
  while (out.length < n) {
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), Math.max(0, deadline - Date.now())));
    const next = await Promise.race([it.next(), timeout]);
    if (next === 'timeout') throw new Error(`follow delivered ${out.length} of ${n} events within ${timeoutMs} ms`);
    if (next.done) break;
    out.push(next.value);
  }
  return out;
}
