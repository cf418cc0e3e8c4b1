import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../log/logger.js';
import { DiagServer } from './diag-server.js';

const servers: DiagServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(checks: ConstructorParameters<typeof DiagServer>[1]) {
  const registry = new Registry();
  new Counter({ name: 'postern_test_total', help: 'test', registers: [registry] }).inc(3);
  const server = new DiagServer(registry, checks, silentLogger);
  servers.push(server);
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
  return (path: string) => fetch(`http://127.0.0.1:${port}${path}`);
}

describe('diagnostics server', () => {
  it('is ready when every check passes, and serves metrics', async () => {
    const get = await start({ storage: () => undefined, listener: async () => undefined });
    expect((await get('/healthz')).status).toBe(200);
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, checks: { storage: 'ok', listener: 'ok' } });
    const metrics = await get('/metrics');
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await metrics.text()).toMatch(/^postern_test_total 3$/m);
  });

  it('answers 503 naming each failing check, including checks that throw', async () => {
    const get = await start({
      storage: () => 'the cluster record is missing',
      authorities: () => {
        throw new Error('boom');
      },
      listener: () => undefined,
    });
    const ready = await get('/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ready: false, checks: { storage: 'the cluster record is missing', authorities: 'boom', listener: 'ok' } });
  });

  it('says where to look for unknown paths and refuses other methods', async () => {
    const get = await start({});
    const missing = await get('/nope');
    expect(missing.status).toBe(404);
    expect(await missing.text()).toMatch(/try \/healthz, \/readyz or \/metrics/);
    expect((await fetch(new URL('/healthz', (await get('/healthz')).url), { method: 'POST' })).status).toBe(405);
  });
});
