import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSecretFile } from '../storage/secret-file.js';
import { callApi, type ProxyEndpoint } from './api-client.js';
import type { AppCertificateResponse } from '../wire/api.js';
import type { LoadedProfile } from './profile-store.js';

export interface AppCertificate {
  app: AppCertificateResponse['app'];
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
  expires: string;
}

/**
 * Certificates for one app (`postern apps login NAME`): a key made here, a certificate from the
 * proxy routed to that app only, living no longer than the login's. Kept in the profile under
 * apps/NAME/ (0600), so curl and `postern proxy app` can use them until they expire.
 */
export async function appCertificate(profile: LoadedProfile, endpoint: ProxyEndpoint, app: string, opts: { reuse?: boolean } = {}): Promise<AppCertificate> {
  const dir = join(profile.dir, 'apps', app);
  const files = { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem'), metaFile: join(dir, 'app.json') };
  if (opts.reuse && existsSync(files.metaFile)) {
    const saved = JSON.parse(readFileSync(files.metaFile, 'utf8')) as Pick<AppCertificate, 'app' | 'expires'>;
    if (Date.parse(saved.expires) > Date.now() + 60_000) {
      return { ...saved, ...files, certPem: readFileSync(files.certFile, 'utf8'), keyPem: readFileSync(files.keyFile, 'utf8') };
    }
  }
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const res = await callApi<AppCertificateResponse>(endpoint, 'POST', `/webapi/apps/${encodeURIComponent(app)}/certificate`, {
    public_key: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  writeSecretFile(files.keyFile, keyPem);
  writeSecretFile(files.certFile, res.cert_pem);
  writeSecretFile(files.metaFile, JSON.stringify({ app: res.app, expires: res.expires }, null, 2) + '\n');
  return { app: res.app, expires: res.expires, ...files, certPem: res.cert_pem, keyPem };
}
