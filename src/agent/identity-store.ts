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
 * The agent's identity on disk, in `<data_dir>/agent/` (0700; every file 0600). The private key
 * is made here and never leaves this machine; deleting the directory makes the agent join anew.
 */
export class AgentIdentityStore {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'agent');
  }

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
