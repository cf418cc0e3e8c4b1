import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Registry as MetricsRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../log/logger.js';
import { SqliteBackend } from '../storage/sqlite/sqlite-backend.js';
import type { AgentTunnel } from './agent-tunnel.js';
import type { AnnouncedResource } from '../resources/table.js';
import { ProxySet } from './proxy-set.js';
import { TunnelRegistry } from './registry.js';

/** A tunnel as the registry sees it: what it announced, and which dials reached it. */
function fakeTunnel(agentName: string, resources: AnnouncedResource[]) {
  const dialled: string[] = [];
  const tunnel = {
    info: { agentId: `id-${agentName}`, agentName, roles: ['app'], remoteAddr: '127.0.0.1' },
    resources,
    closed: false,
    openStreams: 0,
    agentVersion: 'test',
    connectedAt: new Date(),
    onClose() {},
    close() {},
    async open(kind: string, name: string) {
      dialled.push(`${kind}/${name}`);
      return new PassThrough();
    },
  };
  return { tunnel: tunnel as unknown as AgentTunnel, dialled };
}

async function registryWith(...tunnels: AgentTunnel[]): Promise<TunnelRegistry> {
  const backend = new SqliteBackend({ path: join(mkdtempSync(join(tmpdir(), 'postern-registry-')), 'p.db') });
  const registry = new TunnelRegistry(backend, new ProxySet(backend, { publicAddr: 'p:1', listenAddr: 'l:1' }, silentLogger), silentLogger, new MetricsRegistry());
  for (const t of tunnels) {
    registry.add(t);
    await registry.update(t, true);
  }
  return registry;
}

const app = (labels: Record<string, string>, uri = 'http://127.0.0.1:3000'): AnnouncedResource => ({ kind: 'app', name: 'billing', labels, uri });

describe('tunnel registry', () => {
  it('authorizes against the first announcement and dials only agents that announce the same', async () => {
    const dev = fakeTunnel('dev-agent', [app({ env: 'dev' })]);
    const prod = fakeTunnel('prod-agent', [app({ env: 'prod' })]);
    const registry = await registryWith(dev.tunnel, prod.tunnel);
    expect(registry.resolve('app', 'billing').labels).toEqual({ env: 'dev' });
    expect(registry.list('app').map((r) => r.labels)).toEqual([{ env: 'dev' }]);
    // The prod agent is idler (no streams either way); it must still never get a dev-authorized stream.
    for (let i = 0; i < 4; i++) await registry.dial('app', 'billing', registry.resolve('app', 'billing'));
    expect(dev.dialled).toHaveLength(4);
    expect(prod.dialled).toEqual([]);
  });

  it('spreads dials over agents whose announcements agree, whatever their key order', async () => {
    const a = fakeTunnel('a', [{ kind: 'app', name: 'billing', labels: { env: 'dev', team: 'x' }, uri: 'http://127.0.0.1:3000' }]);
    const b = fakeTunnel('b', [{ uri: 'http://127.0.0.1:3000', labels: { team: 'x', env: 'dev' }, name: 'billing', kind: 'app' }]);
    (a.tunnel as { openStreams: number }).openStreams = 5; // busier: the next dial goes to b
    const registry = await registryWith(a.tunnel, b.tunnel);
    await registry.dial('app', 'billing');
    expect(b.dialled).toEqual(['app/billing']);
  });

  it('says the agent is offline when no agent with the authorized announcement is left', async () => {
    const dev = fakeTunnel('dev-agent', [app({ env: 'dev' })]);
    const registry = await registryWith(dev.tunnel);
    await expect(registry.dial('app', 'billing', app({ env: 'prod' }))).rejects.toThrow(/agent for app "billing" is offline/);
    await expect(registry.dial('app', 'nothing')).rejects.toThrow(/agent for app "nothing" is offline/);
  });
});
