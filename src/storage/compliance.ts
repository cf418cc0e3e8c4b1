import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isPosternError } from '../errors/postern-error.js';
import type { Backend, WatchEvent, Watcher } from './backend.js';

const run = promisify(execFile);

export interface ComplianceTarget {
  /** Runs before each test: what fresh() needs made first (a database on a server, say). */
  prepare?(): Promise<void>;
  /** A new, empty store; every call within one test returns another client of the same store. */
  fresh(): { open(): Backend; workerArgv: (op: string, ...args: string[]) => string[] };
}

/** The behaviour every Backend must have. Call it from each implementation's test file. */
export function backendComplianceSuite(name: string, target: ComplianceTarget): void {
  describe(`${name} backend compliance`, () => {
    const opened: Backend[] = [];
    let store: ReturnType<ComplianceTarget['fresh']>;
    const open = () => {
      const b = store.open();
      opened.push(b);
      return b;
    };
    const setup = () => {
      store = target.fresh();
      return open();
    };
    beforeEach(async () => {
      await target.prepare?.();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((b) => b.close()));
    });

    it('puts, gets, ranges by prefix in key order, and deletes', async () => {
      const b = setup();
      const a = await b.put('/apps/b', '2');
      const c = await b.put('/apps/a', '1');
      await b.put('/appsx', 'not under /apps/');
      await b.put('/nodes/n', '3');
      expect(c.revision).toBeGreaterThan(a.revision);
      expect((await b.get('/apps/a'))?.value).toBe('1');
      expect((await b.range('/apps/')).map((i) => i.key)).toEqual(['/apps/a', '/apps/b']);
      expect((await b.range('/apps/', { limit: 1 })).map((i) => i.key)).toEqual(['/apps/a']);
      expect(await b.delete('/apps/a')).toBe(true);
      expect(await b.delete('/apps/a')).toBe(false);
      expect(await b.get('/apps/a')).toBeUndefined();
      const over = await b.put('/apps/b', '22');
      expect(over.revision).toBeGreaterThan(a.revision);
      expect((await b.get('/apps/b'))?.revision).toBe(over.revision);
    });

    it('stops returning expired items and tells watchers they are gone', async () => {
      const b = setup();
      const w = b.watch('/hb/');
      await w.ready;
      await b.put('/hb/agent', 'x', { expires: new Date(Date.now() + 300) });
      await b.put('/hb/keep', 'y', { expires: new Date(Date.now() + 60_000) });
      expect((await b.get('/hb/agent'))?.expires).toBeInstanceOf(Date);
      const events = await take(w, 3, 5000);
      expect(events.map(describeEvent)).toEqual(['put /hb/agent', 'put /hb/keep', 'delete /hb/agent']);
      expect(await b.get('/hb/agent')).toBeUndefined();
      expect((await b.range('/hb/')).map((i) => i.key)).toEqual(['/hb/keep']);
      // An expired item counts as absent for compare-and-swap too.
      await b.compareAndSwap('/hb/agent', null, 'again');
    });

    it('touch renews leases quietly: no revision, no event, nothing created', async () => {
      const b = setup();
      const w = b.watch('/hb/');
      await w.ready;
      const put = await b.put('/hb/agent', 'x', { expires: new Date(Date.now() + 300) });
      await b.put('/hb/forever', 'y');
      expect(await b.touch(['/hb/agent', '/hb/none', '/hb/forever'], new Date(Date.now() + 60_000))).toEqual(['/hb/none', '/hb/forever']);
      await new Promise((r) => setTimeout(r, 600));
      const renewed = await b.get('/hb/agent');
      expect(renewed?.revision).toBe(put.revision);
      expect(renewed!.expires!.getTime()).toBeGreaterThan(Date.now() + 50_000);
      expect(await b.get('/hb/none')).toBeUndefined();
      expect((await b.get('/hb/forever'))?.expires).toBeUndefined();
      await b.put('/hb/marker', 'z');
      expect((await take(w, 3, 5000)).map(describeEvent)).toEqual(['put /hb/agent', 'put /hb/forever', 'put /hb/marker']);
      // An item whose lease ran out cannot be renewed: it is gone and must be written again.
      await b.put('/hb/late', 'x', { expires: new Date(Date.now() + 50) });
      await new Promise((r) => setTimeout(r, 100));
      expect(await b.touch(['/hb/late'], new Date(Date.now() + 60_000))).toEqual(['/hb/late']);
      expect(await b.get('/hb/late')).toBeUndefined();
    });

    it('compare-and-swap: creates only when absent, updates only at the expected revision', async () => {
      const b = setup();
      const first = await b.compareAndSwap('/lock', null, 'a');
      await expect(b.compareAndSwap('/lock', null, 'b')).rejects.toSatisfy((e) => isPosternError(e, 'COMPARE_FAILED'));
      const second = await b.compareAndSwap('/lock', first.revision, 'b');
      await expect(b.compareAndSwap('/lock', first.revision, 'c')).rejects.toSatisfy((e) => isPosternError(e, 'COMPARE_FAILED'));
      expect((await b.get('/lock'))?.value).toBe('b');
      await b.delete('/lock');
      await expect(b.compareAndSwap('/lock', second.revision, 'd')).rejects.toSatisfy((e) => isPosternError(e, 'COMPARE_FAILED'));
    });

    it('compare-and-swap: exactly one of many concurrent writers at one revision wins', async () => {
      const b = setup();
      const other = open();
      const base = await b.put('/race', '0');
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? b : other).compareAndSwap('/race', base.revision, String(i))),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    });

    it('compare-and-swap: processes racing on one counter lose no increment', async () => {
      const b = setup();
      const procs = 3;
      const times = 40;
      await Promise.all(Array.from({ length: procs }, () => runWorker(store.workerArgv('increment', '/counter', String(times)))));
      expect((await b.get('/counter'))?.value).toBe(String(procs * times));
    }, 60_000);

    it('watch: delivers every change under the prefix, in commit order, with rising revisions', async () => {
      const b = setup();
      const w = b.watch('/w/');
      await w.ready;
      const expected: string[] = [];
      for (let i = 0; i < 50; i++) {
        await b.put(`/w/${i % 7}`, String(i));
        expected.push(`put /w/${i % 7}`);
        await b.put(`/other/${i}`, 'x');
        if (i % 10 === 9) {
          await b.delete(`/w/${i % 7}`);
          expected.push(`delete /w/${i % 7}`);
        }
      }
      const events = await take(w, expected.length, 5000);
      expect(events.map(describeEvent)).toEqual(expected);
      const revs = events.map((e) => (e.type === 'put' ? e.item.revision : e.revision));
      expect(revs).toEqual([...revs].sort((x, y) => x - y));
      expect(new Set(revs).size).toBe(revs.length);
      w.close();
      expect(await w[Symbol.asyncIterator]().next()).toEqual({ value: undefined, done: true });
    });

    it('watch: sees writes from its creation on, never older ones', async () => {
      const b = setup();
      for (let i = 0; i < 3; i++) await b.put(`/old/${i}`, 'x');
      const w = b.watch('/old/');
      await w.ready;
      await b.put('/old/new', 'y');
      const second = b.watch('/old/');
      await second.ready;
      await b.put('/old/newer', 'z');
      expect((await take(w, 2, 3000)).map(describeEvent)).toEqual(['put /old/new', 'put /old/newer']);
      expect((await take(second, 1, 3000)).map(describeEvent)).toEqual(['put /old/newer']);
    });

    it('watch: a write by another process reaches a running watcher within a second', async () => {
      const b = setup();
      const w = b.watch('/from-ctl/');
      await w.ready;
      const started = Date.now();
      await runWorker(store.workerArgv('put', '/from-ctl/user', 'alice'));
      const [event] = await take(w, 1, 3000);
      expect(event && describeEvent(event)).toBe('put /from-ctl/user');
      expect(event?.type === 'put' && event.item.value).toBe('alice');
      expect(Date.now() - started).toBeLessThan(3000);
      expect((await b.get('/from-ctl/user'))?.value).toBe('alice');
    }, 30_000);

    it('watch: a watcher nobody reads does not hold up writers or other watchers', async () => {
      const b = setup();
      const idle = b.watch('/');
      const active = b.watch('/');
      await Promise.all([idle.ready, active.ready]);
      for (let i = 0; i < 100; i++) await b.put(`/k${i}`, 'v');
      expect(await take(active, 100, 5000)).toHaveLength(100);
      idle.close();
    });
  });
}

function describeEvent(e: WatchEvent): string {
  return e.type === 'put' ? `put ${e.item.key}` : `delete ${e.key}`;
}

async function take(w: Watcher, n: number, timeoutMs: number): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  const it = w[Symbol.asyncIterator]();
  const deadline = Date.now() + timeoutMs;
  while (out.length < n) {
    const left = deadline - Date.now();
    const next = await Promise.race([it.next(), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), Math.max(0, left)))]);
    if (next === 'timeout') throw new Error(`watch delivered ${out.length} of ${n} events within ${timeoutMs} ms: ${out.map(describeEvent).join(', ')}`);
    if (next.done) break;
    out.push(next.value);
  }
  return out;
}

async function runWorker(argv: string[]): Promise<string> {
  const { stdout } = await run(argv[0]!, argv.slice(1), { timeout: 30_000 });
  return stdout;
}
