import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { LocalAdmin } from '../admin/admin-client.js';
import type { ClusterState } from '../auth/cluster-state.js';
import { knownHostsLine } from '../auth/ssh-certificates.js';
import { loadConfig } from '../config/load.js';
import { writeSecretFile } from '../storage/secret-file.js';
import { PosternError } from '../errors/postern-error.js';
import { adminCommand, CTL_CONFIG_FLAGS, withAdmin, type AdminOptions } from './admin-options.js';
import { addConfigFlags, configOverrides } from './config-flags.js';
import { registerCtlBackup } from './ctl-backup.js';
import { registerCtlResources } from './ctl-resources.js';
import { print } from './output.js';
import { durationArg } from './parse.js';


/**
 * `postern ctl`: administration. On the server host it works through the data directory
 * (--data-dir or --config, or ./postern.yaml / ./postern-data when present); elsewhere through
 * the proxy with your profile, if your roles allow (the editor role allows everything).
 */
export function registerCtl(program: Command): void {
  const ctl = program
    .command('ctl')
    .summary('administer a cluster: users, roles, tokens, locks, audit')
    .description(
      'Administer a cluster. On the server host, ctl uses the data directory (--data-dir, --config, or ' +
        './postern.yaml and ./postern-data when present). Elsewhere it goes through the proxy with your ' +
        'profile from `postern login`, and your roles must allow each operation (the editor role allows all).',
    );

  const status = ctl.command('status').description('Print the cluster name and the pins of its certificate authorities (on the server host).');
  addConfigFlags(status, CTL_CONFIG_FLAGS)
    .addOption(new Option('--format <format>', 'text or json').choices(['text', 'json']).default('text'))
    .action(async (opts: Record<string, unknown>) => {
      await withCluster(opts, (cluster, { dataDir, storage }) => {
        const { host, user } = cluster.authorities;
        if (opts.format === 'json') {
          const ca = (a: typeof host) => ({ pin: a.pin, expires: a.cert.notAfter.toISOString() });
          process.stdout.write(JSON.stringify({ cluster_name: cluster.clusterName, data_dir: dataDir, storage, authorities: { host: ca(host), user: ca(user) } }, null, 2) + '\n');
          return;
        }
        process.stdout.write(
          `Cluster:      ${cluster.clusterName}\n` +
            `Storage:      ${storage}\n` +
            `Host CA pin:  ${host.pin}  (clients and agents: --ca-pin)\n` +
            `User CA pin:  ${user.pin}\n` +
            `CAs valid to: ${host.cert.notAfter.toISOString()}\n`,
        );
      });
    });

  const auth = ctl.command('auth').description('Certificate authorities.');
  const exportCmd = auth.command('export').description("Print a certificate authority: its certificate (PEM) for curl --cacert, or its SSH form for OpenSSH.");
  addConfigFlags(exportCmd, CTL_CONFIG_FLAGS)
    .addOption(
      new Option('--type <type>', 'host: the proxy\'s and agents\' CA (PEM); user: users\' CA (PEM); db: the CA databases trust for agents\' client certificates (PEM); user-ssh: the line for sshd\'s TrustedUserCAKeys; host-ssh: the @cert-authority line for known_hosts')
        .choices(['host', 'user', 'db', 'user-ssh', 'host-ssh'])
        .default('host'),
    )
    .action(async (opts: Record<string, unknown>) => {
      await withCluster(opts, (cluster) => {
        const type = opts.type as 'host' | 'user' | 'db' | 'user-ssh' | 'host-ssh';
        if (type === 'user-ssh') process.stdout.write(cluster.ssh.user.publicLine + '\n');
        else if (type === 'host-ssh') process.stdout.write(knownHostsLine(cluster.ssh.host, cluster.clusterName) + '\n');
        else process.stdout.write(cluster.authorities[type].certPem);
      });
    });

  adminCommand(auth.command('sign-host').description("Sign a node's SSH host key, so clients trust it through the cluster's @cert-authority line (no first-connection prompt), and print the sshd_config lines the node needs."))
    .requiredOption('--host <node>', 'the node name, as its agent announces it (--ssh name=…)')
    .requiredOption('--key <file>', "the node's public host key, e.g. /etc/ssh/ssh_host_ed25519_key.pub")
    .option('--out <file>', 'write the certificate here (default: print it), e.g. /etc/ssh/ssh_host_ed25519_key-cert.pub')
    .addOption(new Option('--ttl <duration>', 'how long the certificate is valid').default(365 * 86_400_000, '365d').argParser(durationArg(3_600_000, 5 * 365 * 86_400_000)))
    .action(async (opts: AdminOptions & { host: string; key: string; out?: string; ttl: number }) => {
      let key: string;
      try {
        key = readFileSync(opts.key, 'utf8');
      } catch (err) {
        throw new PosternError('USAGE', `--key: cannot read ${opts.key}: ${(err as Error).message}`);
      }
      const signed = await withAdmin(opts, (a) => a.run('ssh.sign-host', { node: opts.host, public_key: key.trim(), ttl_ms: opts.ttl }));
      if (opts.out) writeFileSync(opts.out, signed.certificate + '\n', { mode: 0o644 });
      print(opts.format, signed, () =>
        (opts.out ? `Host certificate for ${opts.host} written to ${opts.out}.\n\n` : `${signed.certificate}\n\n`) +
        `On ${opts.host}, save the user CA (postern ctl auth export --type=user-ssh) as /etc/ssh/postern_user_ca.pub,\nadd these lines to /etc/ssh/sshd_config and reload sshd:\n\n${signed.sshd_config.map((l) => `  ${l}`).join('\n')}\n\n` +
        `The AuthorizedPrincipalsCommand line makes ${opts.host} accept only certificates issued for logins on ${opts.host}.\n`,
      );
    });

  adminCommand(
    auth
      .command('sign-db')
      .description(
        "Make a database's TLS key (here, never sent anywhere) and server certificate from the cluster's db CA, write them with that CA to --out, and print the postgresql.conf / pg_hba.conf and my.cnf lines that make the database accept agents' client certificates instead of passwords.",
      ),
  )
    .requiredOption('--host <host>', 'the name or IP address agents reach the database at (the certificate is for it)')
    .requiredOption('--out <dir>', 'write server.key (0600), server.crt and ca.crt here; run this on the database host, e.g. --out=/etc/postgresql/postern')
    .addOption(new Option('--ttl <duration>', 'how long the certificate is valid').default(365 * 86_400_000, '365d').argParser(durationArg(3_600_000, 5 * 365 * 86_400_000)))
    .action(async (opts: AdminOptions & { host: string; out: string; ttl: number }) => {
      const dir = resolve(opts.out);
      const keyFile = join(dir, 'server.key');
      if (existsSync(keyFile)) throw new PosternError('USAGE', `${keyFile} exists already; remove it (and restart the database after) or choose another --out`);
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const signed = await withAdmin(opts, (a) => a.run('db.sign-server', { host: opts.host, public_key: publicKeyPem, ttl_ms: opts.ttl, dir }));
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      writeSecretFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
      writeFileSync(join(dir, 'server.crt'), signed.cert_pem, { mode: 0o644 });
      writeFileSync(join(dir, 'ca.crt'), signed.ca_pem, { mode: 0o644 });
      print(opts.format, { dir, host: opts.host, postgres: signed.postgres, mysql: signed.mysql }, () =>
        `Wrote server.key (0600), server.crt and ca.crt to ${dir}; the database must own and read server.key\n` +
        `(PostgreSQL: chown postgres ${keyFile}).\n\n` +
        `PostgreSQL:\n${signed.postgres.map((l) => `  ${l}`).join('\n')}\n\n` +
        `MySQL / MariaDB:\n${signed.mysql.map((l) => `  ${l}`).join('\n')}\n\n` +
        'Then restart (or reload) the database.\n',
      );
    });

  registerCtlResources(ctl);
  registerCtlBackup(ctl);
}

/** Runs `fn` with the cluster's identity, read from the data directory (server host only). */
async function withCluster(opts: Record<string, unknown>, fn: (cluster: ClusterState, where: { dataDir: string; storage: string }) => void): Promise<void> {
  const { config } = loadConfig({ ...(typeof opts.config === 'string' ? { file: opts.config } : {}), overrides: configOverrides(opts, CTL_CONFIG_FLAGS) });
  const admin = await LocalAdmin.open(config);
  try {
    fn(admin.auth.cluster, { dataDir: config.data_dir, storage: admin.where });
  } finally {
    await admin.close();
  }
}
