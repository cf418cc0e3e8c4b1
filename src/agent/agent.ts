import { hostname } from 'node:os';
import { AGENT_NAME, AGENT_NAME_RULE, type AgentConfig } from '../config/schema.js';
import { PosternError } from '../errors/postern-error.js';
import type { Logger } from '../log/logger.js';
import type { AgentRole } from '../resources/table.js';
import { TunnelClient } from '../tunnel/tunnel-client.js';
import { AgentResources } from './agent-resources.js';
import { lockAgentDir } from './dir-lock.js';
import { AgentIdentityStore, agentStateDir, legacyAgent, type AgentIdentity } from './identity-store.js';
import { joinCluster, renewIdentity } from './join.js';

export interface RunningAgent {
  identity: AgentIdentity;
  /** Its state directory (identity and lock), held by this process until close(). */
  dir: string;
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
  // The name is a path component too; a configured one was checked with the config, the host name was not.
  if (!AGENT_NAME.test(name)) throw new PosternError('CONFIG_INVALID', `this host's name "${name}" cannot name an agent (${AGENT_NAME_RULE}); give one with --agent-name (or agent.name in postern.yaml)`);
  const resources = new AgentResources(config, name, log);
  const roles = resources.roles();
  if (roles.length === 0) throw new PosternError('CONFIG_INVALID', 'the agent serves nothing: give it --app, --ssh or --db (or agent.apps, agent.ssh, agent.databases in postern.yaml)');
  // Locked before anything is read or joined: a second agent on this directory stops here, its token unspent.
  const dir = agentStateDir(dataDir, name);
  const lock = lockAgentDir(dir, log);
  const store = new AgentIdentityStore(dir);
  let identity: AgentIdentity;
  try {
    identity = await loadOrJoin(config, store, name, roles, dataDir, log);
  } catch (err) {
    lock.release();
    throw err;
  }
  let current = identity;
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
    dir,
    resources,
    connected: tunnel.connected,
    close() {
      clearTimeout(renewTimer);
      tunnel.close();
      lock.release();
    },
  };
}

/** The identity in the store while it is current and covers what the agent serves; else a new one, from joining with the token. */
async function loadOrJoin(config: AgentConfig, store: AgentIdentityStore, name: string, roles: AgentRole[], dataDir: string, log: Logger): Promise<AgentIdentity> {
  const identity = store.load();
  if (identity && identity.expires.getTime() > Date.now() && roles.every((r) => identity.roles.includes(r))) return identity;
  if (identity && !config.token) {
    const why = identity.expires.getTime() <= Date.now() ? `its certificate expired at ${identity.expires.toISOString()}` : `its certificate allows ${identity.roles.join(', ')} but it now serves ${roles.join(', ')}`;
    throw new PosternError('JOIN_REFUSED', `this agent must join again: ${why}; start it with a new --token (postern ctl tokens add --type=${roles.join(',')})`);
  }
  // After an upgrade, an agent whose name changed (a new host name, no --agent-name) finds its identity kept under its old name.
  const legacy = config.token ? undefined : legacyAgent(dataDir);
  if (legacy && legacy.name !== name) {
    throw new PosternError('USAGE', `agent "${name}" has not joined yet (${store.dir} holds no identity); ${legacy.dir} holds agent "${legacy.name}", kept from before each agent had its own directory: start with --agent-name=${legacy.name} to run that agent, or pass --token and --ca-pin to join as "${name}"`);
  }
  const joined = await joinCluster({ proxy: config.proxy, ...(config.token ? { token: config.token } : {}), ...(config.ca_pin ? { caPin: config.ca_pin } : {}), name, roles });
  store.save(joined);
  log.info('joined the cluster', { cluster: joined.cluster, agent_id: joined.agentId, roles: joined.roles, certificate_expires: joined.expires.toISOString() });
  return joined;
}
