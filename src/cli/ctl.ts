import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { readClusterState, type ClusterState } from '../auth/cluster-state.js';
import { loadConfig } from '../config/load.js';
import { PosternError } from '../errors/postern-error.js';
import { storePath } from '../server/server.js';
import { SqliteBackend } from '../storage/sqlite/sqlite-backend.js';
import { addConfigFlags, configOverrides } from './config-flags.js';

/**
 * `postern ctl`: administration on the server host. It opens the cluster's store directly (the
 * same SQLite file a running server uses); the server's watches see its writes within one poll
 * interval (100 ms).
 */
export function registerCtl(program: Command): void {
  const ctl = program
    .command('ctl')
    .summary('administer a cluster from its server host')
    .description('Administer a cluster from its server host, through its data directory (--data-dir or --config).');

  const status = ctl.command('status').description('Print the cluster name and the pins of its certificate authorities.');
  addConfigFlags(status, ['--data-dir'])
    .addOption(new Option('--format <format>', 'text or json').choices(['text', 'json']).default('text'))
    .action(async (opts: Record<string, unknown>) => {
      await withCluster(opts, (cluster, dataDir) => {
        const { host, user } = cluster.authorities;
        if (opts.format === 'json') {
          const ca = (a: typeof host) => ({ pin: a.pin, expires: a.cert.notAfter.toISOString() });
          process.stdout.write(JSON.stringify({ cluster_name: cluster.clusterName, data_dir: dataDir, authorities: { host: ca(host), user: ca(user) } }, null, 2) + '\n');
          return;
        }
        process.stdout.write(
          `Cluster:      ${cluster.clusterName}\n` +
            `Data dir:     ${dataDir}\n` +
            `Host CA pin:  ${host.pin}  (clients and agents: --ca-pin)\n` +
            `User CA pin:  ${user.pin}\n` +
            `CAs valid to: ${host.cert.notAfter.toISOString()}\n`,
        );
      });
    });

  const auth = ctl.command('auth').description('Certificate authorities.');
  const exportCmd = auth.command('export').description('Print a certificate authority\'s certificate (PEM), e.g. for curl --cacert.');
  addConfigFlags(exportCmd, ['--data-dir'])
    .addOption(new Option('--type <type>', 'which CA: host (signs the proxy and agents) or user (signs users)').choices(['host', 'user']).default('host'))
    .action(async (opts: Record<string, unknown>) => {
      await withCluster(opts, (cluster) => {
        process.stdout.write(cluster.authorities[opts.type as 'host' | 'user'].certPem);
      });
    });
}

async function withCluster(opts: Record<string, unknown>, fn: (cluster: ClusterState, dataDir: string) => void): Promise<void> {
  const { config } = loadConfig({ ...(typeof opts.config === 'string' ? { file: opts.config } : {}), overrides: configOverrides(opts) });
  const path = storePath(config.data_dir);
  if (!existsSync(path)) {
    throw new PosternError('NOT_INITIALIZED', `no cluster in ${config.data_dir} (no postern.db there); run \`postern start\` first, or point --data-dir or --config at the cluster's data`);
  }
  const backend = new SqliteBackend({ path });
  try {
    fn(await readClusterState(backend, config.data_dir), config.data_dir);
  } finally {
    await backend.close();
  }
}
