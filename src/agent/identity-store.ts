import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { writeSecretFile } from '../storage/secret-file.js';

/** An agent's host identity: what joining (and each renewal) gives it. */
export interface AgentIdentity {
  agentId: string;
  name: string;
  cluster: string;
  roles: string[];
  certPem: string;
  keyPem: string;
  hostCaPem: string;
  expires: Date;
}

/**
 * An agent's directory: `<data_dir>/agents/<name>/`, so agents with different names can share a
 * data dir (and a working directory) without sharing an identity.
 *
 * An identity that an earlier version kept in `<data_dir>/agent/` stays there, and is used by
 * the agent whose name it holds (unless that agent has a directory of its own already). It is
 * not moved: an agent of the earlier version, which takes no lock, may still be running from
 * it, and going back to that version must still find it. To move it, stop the agent and
 * `mv <data_dir>/agent <data_dir>/agents/<name>`.
 */
export function agentStateDir(dataDir: string, name: string): string {
  const own = join(dataDir, 'agents', name);
  const legacy = legacyAgent(dataDir);
  return !existsSync(join(own, 'identity.json')) && legacy?.name === name ? legacy.dir : own;
}

/** The agent whose identity an earlier version kept in `<data_dir>/agent/`, if there is one. */
export function legacyAgent(dataDir: string): { dir: string; name: string } | undefined {
  const dir = join(dataDir, 'agent');
  const file = join(dir, 'identity.json');
  if (!existsSync(file)) return undefined;
  const { name } = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown };
  return typeof name === 'string' ? { dir, name } : undefined;
}

/**
 * The agent's identity on disk, in its directory (0700; every file 0600). The private key is
 * made here and never leaves this machine; deleting the directory makes the agent join anew.
 */
export class AgentIdentityStore {
  constructor(readonly dir: string) {}

  load(): AgentIdentity | undefined {
    const file = (name: string) => join(this.dir, name);
    if (!existsSync(file('identity.json'))) return undefined;
    const meta = JSON.parse(readFileSync(file('identity.json'), 'utf8')) as Omit<AgentIdentity, 'certPem' | 'keyPem' | 'hostCaPem' | 'expires'>;
    const certPem = readFileSync(file('cert.pem'), 'utf8');
    return {
      ...meta,
      certPem,
      keyPem: readFileSync(file('key.pem'), 'utf8'),
      hostCaPem: readFileSync(file('host-ca.pem'), 'utf8'),
      expires: new Date(new X509Certificate(certPem).validTo),
    };
  }

  save(identity: AgentIdentity): void {
    const { certPem, keyPem, hostCaPem, expires: _expires, ...meta } = identity;
    writeSecretFile(join(this.dir, 'key.pem'), keyPem);
    writeSecretFile(join(this.dir, 'cert.pem'), certPem);
    writeSecretFile(join(this.dir, 'host-ca.pem'), hostCaPem);
    writeSecretFile(join(this.dir, 'identity.json'), JSON.stringify(meta, null, 2) + '\n');
  }
}
