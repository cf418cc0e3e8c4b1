import { Access } from '../access/access.js';
import { Standings } from '../access/standing.js';
import type { AuditLog } from '../audit/audit-log.js';
import { openAuditLog } from '../audit/open.js';
import { AuthService } from '../auth/auth-service.js';
import { Authorizer } from '../auth/authorizer.js';
import { ensureClusterState, CLUSTER_KEYS, type ClusterState } from '../auth/cluster-state.js';
import { LiveSessions } from '../auth/live-sessions.js';
import { LockWatcher } from '../auth/lock-watcher.js';
import { RoleCache } from '../auth/roles.js';
import { IdentityVerifier } from '../auth/verifier.js';
import type { PosternConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { formatHostPort } from '../net/addr.js';
import type { Backend } from '../storage/backend.js';
import { Mirror } from '../storage/mirror.js';
import { openBackend } from '../storage/open.js';
import { ProxySet } from '../tunnel/proxy-set.js';
import type { Cleanups } from './cleanups.js';

/** What every protocol handler stands on: storage, the cluster's CAs, identity and the access pipeline. */
export interface Core {
  backend: Backend;
  audit: AuditLog;
  cluster: ClusterState;
  auth: AuthService;
  verifier: IdentityVerifier;
  access: Access;
  publicUrl: string;
  /** This proxy among the cluster's proxies (one store, many proxies). */
  proxies: ProxySet;
}

/**
 * Opens storage (the configured type), makes or loads the cluster's CAs, and starts the live
 * copies of locks, roles, users and sessions that decisions read, with the access pipeline on
 * top: every change to them re-decides the open grants.
 */
export async function startCore(config: PosternConfig, log: Logger, cleanups: Cleanups): Promise<Core> {
  const backend = openBackend(config);
  cleanups.add(() => backend.close());
  const cluster = await ensureClusterState(backend, config.cluster_name);
  const publicUrl = `https://${formatHostPort(config.proxy.public_addr)}`;
  // `postern ctl` on this host reads it to print invite links that point at the running proxy.
  await backend.put(CLUSTER_KEYS.publicAddr, formatHostPort(config.proxy.public_addr));
  await backend.put(CLUSTER_KEYS.secondFactor, config.auth.second_factor);
  const proxies = new ProxySet(backend, { publicAddr: formatHostPort(config.proxy.public_addr), listenAddr: formatHostPort(config.proxy.listen_addr) }, log.child({ component: 'proxies' }));
  await proxies.start();
  cleanups.add(() => proxies.close());
  const audit = openAuditLog(config, { writerThread: true });
  cleanups.add(() => audit.close());
  const auth = new AuthService(backend, cluster, audit, { secondFactor: config.auth.second_factor, certTtlMs: config.auth.cert_ttl, publicUrl, ownCertificate: config.proxy.certificates.length === 0 && !config.proxy.acme });

  const locks = new LockWatcher(auth.locks, log.child({ component: 'locks' }));
  const roles = new RoleCache(auth.roles, log.child({ component: 'roles' }));
  const users = new Mirror(auth.users.records, log.child({ component: 'users' }));
  const sessions = new LiveSessions(auth.sessions, auth.appSessions, log.child({ component: 'sessions' }));
  for (const view of [locks, roles, users, sessions]) {
    await view.start();
    cleanups.add(() => view.close());
  }
  const access = new Access({ standings: new Standings(users, locks, sessions), authorizer: new Authorizer(roles), audit, log: log.child({ component: 'access' }) });
  access.watch((changed) => locks.onChange(changed));
  access.watch((changed) => roles.onChange(changed));
  access.watch((changed) => users.onChange(changed));
  access.watch((changed) => sessions.onEnd(changed));
  cleanups.add(() => access.stop());
  return { backend, audit, cluster, auth, verifier: new IdentityVerifier(cluster), access, publicUrl, proxies };
}
