import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sshd } from '../harness/sshd.js';
import type { TestCluster } from './cluster.js';

/**
 * An sshd set up the way `postern ctl auth sign-host` says: it trusts the cluster's user CA (unless
 * `trust` is false), accepts only its own node's logins, and presents a host certificate.
 */
export function posternNode(cluster: Pick<TestCluster, 'ctl'>, node: string, opts: { trust?: boolean; port?: number } = {}): Promise<Sshd> {
  return Sshd.start({
    ...(opts.port ? { port: opts.port } : {}),
    configure: async (hostKeyPub, dir) => {
      const signed = await cluster.ctl(['auth', 'sign-host', `--host=${node}`, `--key=${hostKeyPub}`, `--out=${join(dir, 'host-cert.pub')}`]);
      if (signed.code !== 0) throw new Error(signed.stderr);
      writeFileSync(join(dir, 'user_ca.pub'), (await cluster.ctl(['auth', 'export', '--type=user-ssh'])).stdout);
      const lines = [`HostCertificate ${join(dir, 'host-cert.pub')}`, `AuthorizedPrincipalsCommand /bin/echo %u@${node}`, 'AuthorizedPrincipalsCommandUser nobody', 'AuthorizedKeysFile none'];
      return opts.trust === false ? lines : [`TrustedUserCAKeys ${join(dir, 'user_ca.pub')}`, ...lines];
    },
  });
}
