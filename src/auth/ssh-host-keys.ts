import { createHash } from 'node:crypto';
import type { Backend } from '../storage/backend.js';

const PREFIX = '/ssh/host_keys/';

/**
 * The host keys the cluster has signed (`ctl auth sign-host`), by node, each until its
 * certificate expires. OpenSSH clients check a node through its host certificate and the
 * `@cert-authority` line; the proxy's own SSH client (the browser terminal, ssh2) cannot negotiate
 * host certificates, so it checks the node's plain key against this record instead: the same
 * trust (a key the host CA signed for that node's name), decided from the cluster's side.
 */
export class SshHostKeys {
  constructor(private readonly backend: Backend) {}

  /** Remembers a key the host CA signed for `node` (its SSH wire blob), until `notAfter`. */
  async record(node: string, blob: Buffer, notAfter: Date): Promise<void> {
    const fingerprint = createHash('sha256').update(blob).digest('base64url');
    await this.backend.put(`${PREFIX}${node}/${fingerprint}`, JSON.stringify({ key: blob.toString('base64'), not_after: notAfter.toISOString() }), { expires: notAfter });
  }

  /** The blobs of the keys signed for `node` whose certificates are still valid. */
  async signed(node: string): Promise<Buffer[]> {
    const items = await this.backend.range(`${PREFIX}${node}/`);
    return items.map((i) => Buffer.from((JSON.parse(i.value) as { key: string }).key, 'base64'));
  }
}
