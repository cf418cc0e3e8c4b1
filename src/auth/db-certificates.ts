import { isIP } from 'node:net';
import { PosternError } from '../errors/postern-error.js';
import { issueCertificate, type CertAuthority } from '../pki/authority.js';
import { importClientKey } from '../pki/client-key.js';

/** A database server's certificate from the cluster's `db` CA: what agents verify the database by. */
export async function dbServerCertificate(ca: CertAuthority, req: { host: string; publicKeyPem: string; ttlMs: number }): Promise<string> {
  if (!/^[a-zA-Z0-9.:-]{1,253}$/.test(req.host)) throw new PosternError('USAGE', `--host: "${req.host}" is not a host name or IP address; give the address agents reach the database at`);
  let publicKey;
  try {
    publicKey = await importClientKey(req.publicKeyPem);
  } catch (err) {
    throw new PosternError('USAGE', `the database's public key is not a P-256 key in PEM (SPKI): ${(err as Error).message}`);
  }
  const cert = await issueCertificate(ca, {
    publicKey,
    commonName: req.host,
    ttlMs: req.ttlMs,
    usage: 'server',
    ...(isIP(req.host) ? { ipAddresses: [req.host] } : { dnsNames: [req.host] }),
  });
  return cert.toString('pem');
}

/**
 * The settings a database needs to trust Postern's agents, with its files in `dir`: TLS with the
 * server certificate, the `db` CA for client certificates, and client certificates instead of
 * passwords. A database user's certificate has the subject `/O=<cluster>/CN=<user>`.
 */
export function dbServerConfig(dir: string, clusterName: string): { postgres: string[]; mysql: string[] } {
  return {
    postgres: [
      '# postgresql.conf',
      'ssl = on',
      `ssl_cert_file = '${dir}/server.crt'`,
      `ssl_key_file = '${dir}/server.key'`,
      `ssl_ca_file = '${dir}/ca.crt'`,
      '# pg_hba.conf: the certificate\'s CN is the database user',
      'hostssl all all 0.0.0.0/0 cert',
      'hostssl all all ::/0 cert',
    ],
    mysql: [
      '# my.cnf, section [mysqld]',
      `ssl_cert = ${dir}/server.crt`,
      `ssl_key = ${dir}/server.key`,
      `ssl_ca = ${dir}/ca.crt`,
      '# each database user, e.g. alice:',
      `CREATE USER 'alice'@'%' REQUIRE SUBJECT '/O=${clusterName}/CN=alice';`,
    ],
  };
}
