import { hostname, userInfo } from 'node:os';
import type { AuditLog } from '../audit/audit-log.js';
import { openAuditLog } from '../audit/open.js';
import { AuthService } from '../auth/auth-service.js';
import { CLUSTER_KEYS, readClusterState } from '../auth/cluster-state.js';
import { callApi, type ProxyEndpoint } from '../client/api-client.js';
import type { PosternConfig } from '../config/schema.js';
import { formatHostPort } from '../net/addr.js';
import type { Backend } from '../storage/backend.js';
import { describeStorage, openBackend } from '../storage/open.js';
import { runOp, type OpArgs, type OpName, type OpResult } from './ops.js';

/**
 * How `postern ctl` reaches the admin operations: on the server host straight through the data
 * directory (whoever can read it is the cluster's administrator), elsewhere through the proxy
 * with the user's certificate, where the user's roles must allow each operation.
 */
export interface AdminClient {
  run<K extends OpName>(op: K, args: OpArgs<K>): Promise<OpResult<K>>;
  /** Where the operations go, for messages. */
  readonly where: string;
  close(): Promise<void>;
}

export class LocalAdmin implements AdminClient {
  private constructor(
    readonly auth: AuthService,
    readonly where: string,
    private readonly backend: Backend,
    private readonly audit: AuditLog,
  ) {}

  static async open(config: PosternConfig): Promise<LocalAdmin> {
    const backend = openBackend(config, { mustExist: true });
    const audit = openAuditLog(config);
    try {
      const cluster = await readClusterState(backend, describeStorage(config));
      // The running server records its public address; links should point there, not at this config's default.
      const publicAddr = (await backend.get(CLUSTER_KEYS.publicAddr))?.value ?? formatHostPort(config.proxy.public_addr);
      // Likewise its second factor: users made here get a one-time code app only if logins ask for one.
      const stored = (await backend.get(CLUSTER_KEYS.secondFactor))?.value;
      const secondFactor = stored === 'off' || stored === 'otp' ? stored : config.auth.second_factor;
      const auth = new AuthService(backend, cluster, audit, { secondFactor, certTtlMs: config.auth.cert_ttl, publicUrl: `https://${publicAddr}` });
      return new LocalAdmin(auth, describeStorage(config), backend, audit);
    } catch (err) {
      await audit.close();
      await backend.close();
      throw err;
    }
  }

  run<K extends OpName>(op: K, args: OpArgs<K>): Promise<OpResult<K>> {
    return runOp(this.auth, op, args, { name: `ctl:${userInfo().username}@${hostname()}`, remoteAddr: 'local' }) as Promise<OpResult<K>>;
  }

  async close(): Promise<void> {
    await this.audit.close();
    await this.backend.close();
  }
}

export class RemoteAdmin implements AdminClient {
  readonly where: string;

  constructor(private readonly endpoint: ProxyEndpoint) {
    this.where = formatHostPort(endpoint.proxy);
  }

  async run<K extends OpName>(op: K, args: OpArgs<K>): Promise<OpResult<K>> {
    return (await callApi<{ result: OpResult<K> }>(this.endpoint, 'POST', `/webapi/admin/${op}`, args)).result;
  }

  async close(): Promise<void> {}
}
