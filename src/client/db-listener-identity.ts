import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createAuthority, issueCertificate, loadAuthority } from '../pki/authority.js';
import { generateKeyPair, privateKeyToPem, x509 } from '../pki/crypto.js';
import { writeSecretFile } from '../storage/secret-file.js';
import type { LoadedProfile } from './profile-store.js';

/** The files a database client presents to a local listener, and the CA that checks both ends. */
export interface DbClientFiles {
  dir: string;
  ca: string;
  cert: string;
  key: string;
}

/** What a TLS local listener serves with: its certificate and key, and the CA its clients' certificates must chain to. */
export interface ListenerTls {
  certPem: string;
  keyPem: string;
  caPem: string;
}

/** A client certificate is renewed when it has less than this left. */
const RENEW_BEFORE_MS = 60 * 60_000;
const CLIENT_TTL_MS = 30 * 86_400_000;
const SERVER_TTL_MS = 86_400_000;
const CA_NAME = 'postern local db listener';

/**
 * The identity of a profile's local database listeners (`postern proxy db` without --tunnel):
 * a CA made on this machine for this profile (its key never leaves the profile directory), a
 * client certificate and key for database clients (`postern db login` writes them, 0600), and
 * a server certificate for localhost made each time a listener starts. A client that can read
 * the profile's key can use the listener; other users of the machine cannot, as they could a
 * plain loopback port. Who the user is to the cluster is still the profile's Postern
 * certificate, which the listener presents to the proxy.
 */
export class DbListenerIdentity {
  readonly files: DbClientFiles;
  private readonly caKey: string;

  constructor(profile: Pick<LoadedProfile, 'dir'>) {
    const dir = join(profile.dir, 'db');
    this.files = { dir, ca: join(dir, 'ca.crt'), cert: join(dir, 'client.crt'), key: join(dir, 'client.key') };
    this.caKey = join(dir, 'ca.key');
  }

  /** Makes the CA (once) and a client certificate (when missing or about to expire); says whether it wrote new files. */
  async ensureClient(): Promise<boolean> {
    const current = existsSync(this.files.cert) && existsSync(this.files.key) ? new x509.X509Certificate(readFileSync(this.files.cert, 'utf8')) : undefined;
    if (current && existsSync(this.files.ca) && current.notAfter.getTime() - Date.now() > RENEW_BEFORE_MS) return false;
    const ca = await this.authority();
    const keys = await generateKeyPair();
    const cert = await issueCertificate(ca, { publicKey: keys.publicKey, commonName: 'database client', ttlMs: CLIENT_TTL_MS, usage: 'client' });
    writeSecretFile(this.files.key, await privateKeyToPem(keys.privateKey));
    writeSecretFile(this.files.cert, cert.toString('pem'));
    return true;
  }

  /** A fresh server certificate for localhost, and the CA, for a listener starting now. */
  async listener(): Promise<ListenerTls> {
    const ca = await this.authority();
    const keys = await generateKeyPair();
    const cert = await issueCertificate(ca, { publicKey: keys.publicKey, commonName: 'localhost', ttlMs: SERVER_TTL_MS, usage: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] });
    return { certPem: cert.toString('pem'), keyPem: await privateKeyToPem(keys.privateKey), caPem: ca.certPem };
  }

  /** Removes the CA and the client files: listeners started later make a new CA, and old client files stop working. */
  remove(): boolean {
    const existed = existsSync(this.files.dir);
    rmSync(this.files.dir, { recursive: true, force: true });
    return existed;
  }

  private async authority() {
    if (!existsSync(this.caKey) || !existsSync(this.files.ca)) {
      const created = await createAuthority('db', CA_NAME);
      writeSecretFile(this.caKey, created.key_pem);
      writeSecretFile(this.files.ca, created.cert_pem);
    }
    return loadAuthority({ type: 'db', cluster_name: CA_NAME, cert_pem: readFileSync(this.files.ca, 'utf8'), key_pem: readFileSync(this.caKey, 'utf8') });
  }
}
