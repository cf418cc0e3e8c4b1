import { describe, expect, it } from 'vitest';
import type { AnnouncedResource } from '../../resources/table.js';
import type { TunnelRegistry } from '../../tunnel/registry.js';
import { AppCatalog } from './app-catalog.js';

/** The registry's side: `grafana` online now, `wiki` announced once but its agent gone. */
function registry(): TunnelRegistry {
  const online: AnnouncedResource[] = [{ kind: 'app', name: 'grafana', labels: {}, uri: 'http://127.0.0.1:3000' }];
  return {
    version: 1,
    list: () => online,
    known: async (_kind: string, name: string) => name === 'grafana' || name === 'wiki',
  } as unknown as TunnelRegistry;
}

describe('AppCatalog.online', () => {
  const catalog = new AppCatalog(registry(), { host: 'postern.localhost', port: 3080 });

  it('finds an app that is online', async () => {
    expect(await catalog.online('grafana')).toMatchObject({ name: 'grafana', publicAddr: 'grafana.postern.localhost:3080' });
  });

  it('says an app that was announced before is offline', async () => {
    await expect(catalog.online('wiki')).rejects.toMatchObject({ code: 'AGENT_OFFLINE', message: expect.stringContaining('agent for app "wiki" is offline') });
  });

  it('says a name no agent ever announced is no app at all, and where to see the apps', async () => {
    await expect(catalog.online('nosuch')).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'there is no app "nosuch"; `postern apps ls` lists the apps you may open' });
  });
});
