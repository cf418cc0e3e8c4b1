/**
 * Reverse-tunnel processes under test, each in its own process so the proxy, the agents and the
 * bench's clients do not share an event loop. Speaks the line protocol of server-process.ts:
 * one ready line of JSON, then a JSON answer to each command on stdin ("cpu", "mem"). Ends on
 * SIGINT (as `postern start` does, gracefully) or when stdin closes.
 *
 * Kinds:
 *   proxy <dir> <port>  a real cluster (auth + proxy, startServer) with the bench configuration
 *                       (tunnel-cluster.ts); ready line {"port", "diag_port"}.
 *   proxy-config <file> <dir> <port>
 *                       one proxy of several (ha-cluster.ts): the shared postern.yaml, its own
 *                       data directory and port; ready line {"port", "diag_port"}.
 *   agents <spec file>  many agents in this one process (TunnelClient + AgentResources, as
 *                       startAgent wires them), one host identity each; ready line {"agents": N}
 *                       once every tunnel is up.
 */
import { readFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import tls, { type SecureContext, type SecureContextOptions } from 'node:tls';
import { AgentResources } from '../src/agent/agent-resources.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger, silentLogger } from '../src/log/logger.js';
import { startServer } from '../src/server/server.js';
import { TunnelClient } from '../src/tunnel/tunnel-client.js';
import { clusterOverrides, type AgentsSpec } from './lib/tunnel-cluster.js';

type Closer = () => Promise<void> | void;

/** Agents started together when the agents process starts. */
const START_BATCH = 50;

async function proxy(dir: string, port: number, file?: string): Promise<Closer> {
  const { config } = file
    ? loadConfig({ file, overrides: clusterOverrides(dir, port).filter((o) => o.path !== 'proxy.public_addr') })
    : loadConfig({ overrides: clusterOverrides(dir, port), cwd: dir });
  const server = await startServer(config, createLogger(config.log.level, config.log.format));
  process.stdout.write(JSON.stringify({ port: server.proxyAddr.port, diag_port: server.diagAddr!.port }) + '\n');
  return () => server.close();
}

/**
 * An agent's client TLS context trusts every public root CA: about 20 ms of CPU and 770 KiB to
 * build. An agent process, with its one identity, builds it once; here a thousand identities share
 * one process, where a bounded cache would thrash (or, without one, each redial would build
 * anew) and the figure would measure this process rather than the proxy. So here every context
 * is made once per identity, however the TLS code asks for it (the tls module's function, or the
 * binding an ES module imported, which syncBuiltinESMExports updates).
 */
function shareTlsContexts(): void {
  const make = tls.createSecureContext;
  const made = new Map<string, SecureContext>();
  Object.assign(tls, {
    createSecureContext(options: SecureContextOptions = {}): SecureContext {
      const key = `${String(options.cert)}${String(options.key)}`;
      let context = made.get(key);
      if (!context) made.set(key, (context = make(options)));
      return context;
    },
  });
  syncBuiltinESMExports();
}

async function agents(specFile: string): Promise<Closer> {
  shareTlsContexts();
  const spec = JSON.parse(readFileSync(specFile, 'utf8')) as AgentsSpec;
  const { config } = loadConfig({ overrides: [{ path: 'roles', flag: '--roles', value: ['agent'] }, { path: 'agent.proxy', flag: '--proxy', value: spec.proxy }, { path: 'agent.apps', flag: '--app', value: spec.apps }], cwd: dirname(specFile) });
  const clients = spec.agents.map((a) => {
    const credentials = { certPem: a.certPem, keyPem: a.keyPem, hostCaPem: spec.hostCaPem };
    return new TunnelClient(config.agent!.proxy, () => credentials, new AgentResources(config.agent!, a.name, silentLogger), silentLogger);
  });
  // Started a batch at a time: each agent's first dial builds its TLS context synchronously (see
  // shareTlsContexts), so a thousand at once would block this process long enough for the first
  // handshakes to time out. A restart still brings them all back at once.
  for (let i = 0; i < clients.length; i += START_BATCH) {
    const batch = clients.slice(i, i + START_BATCH);
    for (const c of batch) c.start();
    await Promise.all(batch.map((c) => c.connected));
  }
  process.stdout.write(JSON.stringify({ agents: clients.length }) + '\n');
  return () => clients.forEach((c) => c.close());
}

/** Collects garbage first (twice: the first pass queues finalizers the second frees), so readings are live memory. */
function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  gc();
}

const commands: Record<string, () => unknown> = {
  cpu: () => {
    collect();
    const { user, system } = process.cpuUsage();
    return { cpu_us: user + system };
  },
  mem: () => {
    collect();
    const m = process.memoryUsage();
    return { rss: m.rss, heap_used: m.heapUsed };
  },
};

const [kind, ...args] = process.argv.slice(2);
const close = kind === 'proxy' ? await proxy(args[0]!, Number(args[1])) : kind === 'proxy-config' ? await proxy(args[1]!, Number(args[2]), args[0]) : await agents(args[0]!);
let closing = false;
const stop = () => {
  if (closing) return;
  closing = true;
  void Promise.resolve(close()).then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.stdin.on('end', stop);
createInterface({ input: process.stdin }).on('line', (line) => process.stdout.write(JSON.stringify(commands[line]?.() ?? { error: `unknown command ${line}` }) + '\n'));
