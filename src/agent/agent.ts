import { hostname } from 'node:os';
import type { AgentConfig } from '../config/schema.js';
import { PosternError } from '../errors/postern-error.js';
import type { Logger } from '../log/logger.js';
import { TunnelClient } from '../tunnel/tunnel-client.js';
import { AgentResources } from './agent-resources.js';
import { AgentIdentityStore, type AgentIdentity } from './identity-store.js';
import { joinCluster, renewIdentity } from './join.js';

export interface RunningAgent {
  identity: AgentIdentity;
  resources: AgentResources;
  /** Resolves when the first tunnel is up. */
  connected: Promise<void>;
  close(): void;
}

/**
 * An agent: joins once (token + pin), then keeps a reverse tunnel to the proxy and its host
 * certificate fresh. The certificate is renewed at two thirds of its life, over mutual TLS with
 * the current one, and the tunnel is re-dialled with the new one; no restart, no new token.
 */
export async function startAgent(config: AgentConfig, dataDir: string, log: Logger): Promise<RunningAgent> {
  const name = config.name ?? hostname();
  const resources = new AgentResources(config, name, log);
  const roles = resources.roles();
  if (roles.length === 0) throw new PosternError('CONFIG_INVALID', 'the agent serves nothing: give it --app, --ssh or --db (or agent.apps, agent.ssh, agent.databases in postern.yaml)');
  const store = new AgentIdentityStore(dataDir);
  let identity = store.load();
  const fresh = identity && identity.expires.getTime() > Date.now() && roles.every((r) => identity!.roles.includes(r));
  if (!fresh) {
    if (identity && !config.token) {
      const why = identity.expires.getTime() <= Date.now() ? `its certificate expired at ${identity.expires.toISOString()}` : `its certificate allows ${identity.roles.join(', ')} but it now serves ${roles.join(', ')}`;
      throw new PosternError('JOIN_REFUSED', `this agent must join again: ${why}; start it with a new --token (postern ctl tokens add --type=${roles.join(',')})`);
    }
    identity = await joinCluster({ proxy: config.proxy, ...(config.token ? { token: config.token } : {}), ...(config.ca_pin ? { caPin: config.ca_pin } : {}), name, roles });
    store.save(identity);
    log.info('joined the cluster', { cluster: identity.cluster, agent_id: identity.agentId, roles: identity.roles, certificate_expires: identity.expires.toISOString() });
  }
  let current = identity!;
  const tunnel = new TunnelClient(config.proxy, () => current, resources, log.child({ component: 'tunnel' }));
  tunnel.start();

  let renewTimer: NodeJS.Timeout | undefined;
  const schedule = (delayMs: number) => {
    renewTimer = setTimeout(renew, Math.max(0, delayMs));
    renewTimer.unref();
  };
  const renew = () => {
    renewIdentity(config.proxy, current)
      .then((renewed) => {
        store.save(renewed);
        current = renewed;
        log.info('renewed the host certificate', { certificate_expires: renewed.expires.toISOString() });
        tunnel.redial();
        schedule(((renewed.expires.getTime() - Date.now()) * 2) / 3);
      })
      .catch((err: unknown) => {
        // Keep trying while the certificate lasts; the tunnel goes on with the current one meanwhile.
        const retry = Math.min(60_000, Math.max(1000, (current.expires.getTime() - Date.now()) / 10));
        log.error(`renewing the host certificate failed; retrying in ${Math.round(retry / 1000)} s`, { err });
        schedule(retry);
      });
  };
  schedule(((current.expires.getTime() - Date.now()) * 2) / 3);

  return {
    get identity() {
      return current;
    },
    resources,
    connected: tunnel.connected,
    close() {
      clearTimeout(renewTimer);
      tunnel.close();
    },
  };
}
