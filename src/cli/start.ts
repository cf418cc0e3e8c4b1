import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import type { PosternConfig } from '../config/schema.js';
import { PosternError } from '../errors/postern-error.js';
import { createLogger } from '../log/logger.js';
import { formatHostPort } from '../net/addr.js';
import { startAgent, type RunningAgent } from '../agent/agent.js';
import { startServer, type RunningServer } from '../server/server.js';
import { describeStorage } from '../storage/open.js';
import { VERSION } from '../version.js';
import { addConfigFlags, configOverrides } from './config-flags.js';
import { labelText } from './output.js';

export function registerStart(program: Command): void {
  const cmd = program
    .command('start')
    .summary('run a Postern cluster (auth + proxy), an agent, or both, in this process')
    .description(
      'Run a Postern cluster in this process: the certificate authorities, storage and the one TLS port. ' +
        'On first start it creates the data directory and the certificate authorities; later starts reuse them. ' +
        'With --roles=agent it runs an agent instead: it joins a cluster with a token (first start only), dials out ' +
        'to the proxy and serves the apps, SSH nodes and databases given with --app, --ssh and --db. ' +
        'Settings come from postern.yaml (see `postern configure`); flags override the file.',
    );
  cmd.option('--demo', 'also run a demo agent in this process, serving a web app (demo) and a TCP echo app (echo) to try right away');
  addConfigFlags(cmd).action(async (opts: Record<string, unknown>) => {
    const { config, file } = loadConfig({ ...(typeof opts.config === 'string' ? { file: opts.config } : {}), overrides: configOverrides(opts) });
    if (opts.demo && !config.roles.includes('proxy')) throw new PosternError('USAGE', '--demo runs next to a cluster: start it with the auth and proxy roles (the default), not --roles=agent alone');
    const log = createLogger(config.log.level, config.log.format);
    if (file) log.info('read configuration', { file });
    const stoppables: { close(): Promise<void> | void }[] = [];
    if (config.roles.includes('proxy')) {
      const server = await startServer(config, log, { demo: opts.demo === true });
      stoppables.push(server);
      log.info('postern started', {
        cluster: server.clusterName,
        listen: formatHostPort(server.proxyAddr),
        diag: server.diagAddr && formatHostPort(server.diagAddr),
        public_url: server.publicUrl,
        ca_pin: server.pins.host,
      });
      process.stdout.write(banner(server, { storage: describeStorage(config), ctlFlags: ctlFlagsFor(config, file) }));
    }
    if (config.roles.includes('agent')) {
      const agent = await startAgent(config.agent!, config.data_dir, log.child({ component: 'agent' }));
      stoppables.unshift(agent);
      log.info('postern agent started', { agent: agent.identity.name, agent_id: agent.identity.agentId, proxy: formatHostPort(config.agent!.proxy) });
      process.stdout.write(agentBanner(agent, formatHostPort(config.agent!.proxy)));
    }
    process.stdout.write('\nPress Ctrl-C to stop.\n');
    stopOnSignals({ close: async () => { for (const s of stoppables) await s.close(); } }, log);
  });
}

function agentBanner(agent: RunningAgent, proxy: string): string {
  const { identity } = agent;
  const serving = agent.resources
    .list()
    .map((r) => `${r.kind} ${r.name}${'uri' in r && r.uri ? ` → ${r.uri}` : ''}${Object.keys(r.labels).length ? ` (${labelText(r.labels)})` : ''}`)
    .join('\n                ');
  return `
Postern agent ${VERSION} is running.

  Agent:        ${identity.name} (id ${identity.agentId})
  Cluster:      ${identity.cluster}
  Proxy:        ${proxy}  (this agent dials out: no inbound port is needed)
  Serving:      ${serving}
  Certificate:  valid until ${identity.expires.toISOString()}; renewed automatically
  Identity:     ${agent.dir}

Check from the server host: postern ctl get agents
`;
}

/**
 * How `postern ctl` on this host finds the cluster: the data directory of an SQLite store; the
 * config file for PostgreSQL (it holds the connection string).
 */
function ctlFlagsFor(config: PosternConfig, file: string | undefined): string {
  if (config.storage.type === 'sqlite') return `--data-dir ${config.data_dir}`;
  return file ? `--config ${file}` : '--config FILE';
}

function banner(s: RunningServer, where: { storage: string; ctlFlags: string }): string {
  const diag = s.diagAddr ? `http://${formatHostPort(s.diagAddr)}  (/healthz /readyz /metrics)` : 'off (--diag-addr to enable)';
  const proxy = new URL(s.publicUrl).host;
  // A certificate from the cluster's own CA is trusted by pin; a configured (public) one needs none.
  const pin = s.ownCertificate ? ` --ca-pin=${s.pins.host}` : '';
  const trust = pin ? `  - Trust the cluster in this machine's browsers:  postern trust --proxy=${proxy}${pin}\n` : '';
  const firstAdmin = s.firstAdmin
    ? `  - First administrator: open this link to choose ${s.firstAdmin.user}'s password:
      ${s.firstAdmin.url}
    (one use, valid until ${s.firstAdmin.expires}; each start makes a new one until it is used)
`
    : '';
  const demo = s.demo ? `\n${s.demo.map((l) => `  ${l}`).join('\n')}\n` : '';
  return `
Postern ${VERSION} is running.

  Cluster:      ${s.clusterName}
  Listening:    ${formatHostPort(s.proxyAddr)}  (TLS: web, API and every protocol, routed by SNI/ALPN)
  Public URL:   ${s.publicUrl}
  Certificate:  ${s.tlsSource}
  Diagnostics:  ${diag}
  Storage:      ${where.storage}
  CA pin:       ${s.pins.host}
${demo}
Next:
${trust}${firstAdmin}  - Log in from a terminal:  postern login --proxy=${proxy} --user=${s.firstAdmin?.user ?? 'NAME'}${pin}
  - Check it answers:  curl --cacert <(postern ctl auth export ${where.ctlFlags}) ${s.publicUrl}/webapi/ping
  - Cluster facts:     postern ctl status ${where.ctlFlags}
`;
}

function stopOnSignals(server: { close(): Promise<void> }, log: ReturnType<typeof createLogger>): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn('second signal: exiting without waiting for connections', { signal });
      process.exit(130);
    }
    stopping = true;
    log.info('stopping: no new connections; open ones get 2 s to finish', { signal });
    server
      .close()
      .then(() => {
        log.info('stopped');
        process.stdout.write('Postern stopped.\n');
        process.exit(0);
      })
      .catch((err: unknown) => {
        log.error('stopping failed', { err });
        process.exit(1);
      });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  stopWithNpm(() => {
    log.info('npm, which started this process, has gone: stopping too');
    stop('SIGTERM');
  });
  // The CLI exits at once when its output's reader goes (\`postern … | head\`). A server whose
  // terminal or parent went away stops the way a signal stops it instead: sessions get their
  // grace period and the audit log its last writes.
  for (const stream of [process.stdout, process.stderr]) {
    stream.removeAllListeners('error');
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' && !stopping) stop('SIGPIPE');
    });
  }
}

/**
 * Under npm (`npx postern start`, `npm start`) this process is npm's grandchild, through a shell:
 * npm passes a signal it gets on to the shell, which dies and leaves this process running,
 * orphaned, on its port. So a process npm started stops when its parent goes (checked every
 * second). Started any other way (a service manager, `nohup … &`) a changed parent means nothing.
 */
function stopWithNpm(stop: () => void): void {
  if (!process.env.npm_command) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    stop();
  }, 1000);
  timer.unref();
}
