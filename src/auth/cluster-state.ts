import { PosternError, isPosternError } from '../errors/postern-error.js';
import { AUTHORITY_TYPES, createAuthority, loadAuthority, type AuthorityType, type CertAuthority, type StoredAuthority } from '../pki/authority.js';
import type { KeyObject } from 'node:crypto';
import { newSshKeyPair, privateKeyFromPem, publicKeyLine } from '../pki/ssh.js';
import type { Backend } from '../storage/backend.js';

/** Storage keys of the cluster's identity. */
export const CLUSTER_KEYS = {
  name: '/cluster/name',
  /** The proxy's public address, recorded at each start (for links made by `postern ctl`). */
  publicAddr: '/cluster/public_addr',
  /** The running server's auth.second_factor, recorded at each start (so `postern ctl users add` asks for a code only when logins need one). */
  secondFactor: '/cluster/second_factor',
  authority: (type: AuthorityType) => `/authorities/${type}`,
  sshAuthority: (type: SshAuthorityType) => `/authorities/ssh-${type}`,
} as const;

/** An OpenSSH certificate authority (Ed25519): user certificates for logins, host certificates for nodes. */
export interface SshAuthority {
  privateKey: KeyObject;
  /** `ssh-ed25519 AAAA… comment`: what TrustedUserCAKeys and @cert-authority lines hold. */
  publicLine: string;
}
export type SshAuthorityType = 'user' | 'host';

export interface ClusterState {
  clusterName: string;
  authorities: Record<AuthorityType, CertAuthority>;
  ssh: Record<SshAuthorityType, SshAuthority>;
}

/**
 * On first start: records the cluster name and creates the certificate authorities. Afterwards:
 * loads them, and refuses a config whose cluster name differs from the one the data was made
 * with (renaming a cluster would orphan every certificate it issued). Safe when two processes
 * start on one store at once: creation is compare-and-swap, and the loser reads the winner's.
 */
export async function ensureClusterState(backend: Backend, clusterName: string): Promise<ClusterState> {
  const name = await createOnce(backend, CLUSTER_KEYS.name, async () => clusterName);
  if (name !== clusterName) {
    throw new PosternError(
      'CLUSTER_MISMATCH',
      `the data directory belongs to cluster "${name}", but the config names "${clusterName}"; set cluster_name: ${name} (or --cluster-name ${name}), or use another --data-dir for a new cluster`,
    );
  }
  const authorities = {} as Record<AuthorityType, CertAuthority>;
  for (const type of AUTHORITY_TYPES) {
    const stored = await createOnce(backend, CLUSTER_KEYS.authority(type), async () => JSON.stringify(await createAuthority(type, clusterName)));
    authorities[type] = await loadAuthority(JSON.parse(stored) as StoredAuthority);
  }
  const ssh = {} as Record<SshAuthorityType, SshAuthority>;
  for (const type of SSH_AUTHORITY_TYPES) {
    const stored = await createOnce(backend, CLUSTER_KEYS.sshAuthority(type), async () => JSON.stringify({ key_pem: newSshKeyPair().privateKey.export({ type: 'pkcs8', format: 'pem' }) }));
    ssh[type] = loadSshAuthority(stored, type, clusterName);
  }
  return { clusterName, authorities, ssh };
}

/** Loads what ensureClusterState made, without creating anything (for `postern ctl`). */
export async function readClusterState(backend: Backend, where: string): Promise<ClusterState> {
  const name = await backend.get(CLUSTER_KEYS.name);
  if (!name) throw new PosternError('NOT_INITIALIZED', `${where} holds no cluster yet; run \`postern start\` with this storage first`);
  const authorities = {} as Record<AuthorityType, CertAuthority>;
  for (const type of AUTHORITY_TYPES) {
    const item = await backend.get(CLUSTER_KEYS.authority(type));
    if (!item) throw new PosternError('NOT_INITIALIZED', `${where} has no ${type} certificate authority; start the cluster once to create it`);
    authorities[type] = await loadAuthority(JSON.parse(item.value) as StoredAuthority);
  }
  const ssh = {} as Record<SshAuthorityType, SshAuthority>;
  for (const type of SSH_AUTHORITY_TYPES) {
    const item = await backend.get(CLUSTER_KEYS.sshAuthority(type));
    if (!item) throw new PosternError('NOT_INITIALIZED', `${where} has no ${type} SSH certificate authority; start the cluster once with this version to create it`);
    ssh[type] = loadSshAuthority(item.value, type, name.value);
  }
  return { clusterName: name.value, authorities, ssh };
}

const SSH_AUTHORITY_TYPES: readonly SshAuthorityType[] = ['user', 'host'];

function loadSshAuthority(stored: string, type: SshAuthorityType, clusterName: string): SshAuthority {
  const privateKey = privateKeyFromPem((JSON.parse(stored) as { key_pem: string }).key_pem);
  return { privateKey, publicLine: publicKeyLine(privateKey, `postern ${type} CA (${clusterName})`) };
}

async function createOnce(backend: Backend, key: string, make: () => Promise<string>): Promise<string> {
  const existing = await backend.get(key);
  if (existing) return existing.value;
  const value = await make();
  try {
    await backend.compareAndSwap(key, null, value);
    return value;
  } catch (err) {
    if (!isPosternError(err, 'COMPARE_FAILED')) throw err;
    const winner = await backend.get(key);
    if (!winner) throw err;
    return winner.value;
  }
}
