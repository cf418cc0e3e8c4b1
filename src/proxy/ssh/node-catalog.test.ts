import { createServer } from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { AnnouncedResource } from '../../resources/table.js';
import type { TunnelRegistry } from '../../tunnel/registry.js';
import { NodeCatalog } from './node-catalog.js';

/** The registry's side as an agent would fill it: one agent announcing `db-1` and `web-1`. */
function agentNodes(): TunnelRegistry & { dialled: string[] } {
  const announced: AnnouncedResource[] = [
    { kind: 'node', name: 'db-1', labels: { env: 'prod', from: 'agent' } },
    { kind: 'node', name: 'web-1', labels: { env: 'dev' } },
  ];
  const dialled: string[] = [];
  return {
    dialled,
    list: () => announced,
    resolve: (_kind: string, name: string) => announced.find((r) => r.name === name)!,
    known: async (_kind: string, name: string) => announced.some((r) => r.name === name),
    dial: async (_kind: string, name: string) => {
      dialled.push(name);
      throw new Error('not dialled in this test');
    },
  } as unknown as TunnelRegistry & { dialled: string[] };
}

describe('NodeCatalog', () => {
  it('lists direct nodes and agent nodes; a direct name is never an agent\'s', async () => {
    const tunnels = agentNodes();
    const catalog = new NodeCatalog([{ name: 'db-1', addr: { host: '127.0.0.1', port: 1 }, labels: { env: 'dev' } }], tunnels);
    expect(catalog.list().map((n) => [n.name, n.labels])).toEqual([
      ['db-1', { env: 'dev' }],
      ['web-1', { env: 'dev' }],
    ]);
    // Authorization sees the configured labels, not those an agent announced under the same name.
    expect(catalog.resolve('db-1').labels).toEqual({ env: 'dev' });
    expect(await catalog.known('db-1')).toBe(true);
    expect(await catalog.known('nope')).toBe(false);
  });

  it('dials a direct node from the proxy, and says which address failed', async () => {
    const sshd = createServer((s) => s.end('SSH-2.0-test\r\n'));
    sshd.listen(0, '127.0.0.1');
    await once(sshd, 'listening');
    const port = (sshd.address() as { port: number }).port;
    const tunnels = agentNodes();
    const catalog = new NodeCatalog([{ name: 'db-1', addr: { host: '127.0.0.1', port }, labels: {} }], tunnels);
    const stream = await catalog.dial('db-1', catalog.resolve('db-1'));
    const [banner] = await once(stream, 'data');
    expect(String(banner)).toBe('SSH-2.0-test\r\n');
    stream.destroy();
    expect(tunnels.dialled).toEqual([]);
    sshd.close();
    await once(sshd, 'close');
    await expect(catalog.dial('db-1', catalog.resolve('db-1'))).rejects.toThrow(`the proxy cannot reach 127.0.0.1:${port} (node db-1): ECONNREFUSED`);
  });
});
