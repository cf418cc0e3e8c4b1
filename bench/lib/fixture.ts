import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAuthority, loadAuthority } from '../../src/pki/authority.js';
import { issueProxyTls } from '../../src/server/proxy-certificate.js';
import { tempDir } from '../../test/harness/temp.js';

export interface BenchTls {
  dir: string;
  /** JSON {cert, key} for server-under-test.ts. */
  jsonFile: string;
  certFile: string;
  keyFile: string;
  caPem: string;
}

/** The same certificate Postern serves (P-256, issued by a host CA), for every server in the bench. */
export async function benchTls(): Promise<BenchTls> {
  const ca = await loadAuthority(await createAuthority('host', 'bench'));
  const tls = await issueProxyTls(ca, 'postern.localhost');
  const dir = tempDir('postern-bench-');
  const cert = String(tls.options.cert);
  const key = String(tls.options.key);
  const files = { jsonFile: join(dir, 'tls.json'), certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
  writeFileSync(files.jsonFile, JSON.stringify({ cert, key }));
  writeFileSync(files.certFile, cert);
  writeFileSync(files.keyFile, key, { mode: 0o600 });
  return { dir, ...files, caPem: ca.certPem };
}
