import type { Command } from 'commander';
import type { ConfigOverride } from '../config/load.js';

/** Flags that override keys of postern.yaml. One table, so help text and overrides cannot drift. */
export const CONFIG_FLAGS = [
  { flag: '--data-dir', arg: '<dir>', path: 'data_dir', help: 'where state and certificate authorities live (default ./postern-data)' },
  { flag: '--listen-addr', arg: '<host:port>', path: 'proxy.listen_addr', help: 'the one TLS port to listen on (default 0.0.0.0:3080)' },
  { flag: '--public-addr', arg: '<host:port>', path: 'proxy.public_addr', help: 'the address users and agents reach the proxy at (default postern.localhost:3080)' },
  { flag: '--diag-addr', arg: '<host:port>', path: 'diag_addr', help: 'serve /healthz, /readyz and /metrics over HTTP here (default off)' },
  { flag: '--cluster-name', arg: '<name>', path: 'cluster_name', help: 'the cluster name, fixed on first start (default: the public host)' },
  { flag: '--use-proxy-protocol', arg: '', path: 'proxy.use_proxy_protocol', help: 'require a PROXY v1/v2 header on every connection (behind an L4 load balancer)' },
  { flag: '--log-level', arg: '<level>', path: 'log.level', help: 'debug, info, warn or error (default info)' },
  { flag: '--log-format', arg: '<format>', path: 'log.format', help: 'auto, json or text (default auto: text on a terminal)' },
] as const;

export function addConfigFileFlag(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'read settings from this postern.yaml (default ./postern.yaml if it exists)');
}

export function addConfigFlags(cmd: Command, only?: readonly string[]): Command {
  addConfigFileFlag(cmd);
  for (const f of CONFIG_FLAGS) {
    if (only && !only.includes(f.flag)) continue;
    cmd.option(f.arg ? `${f.flag} ${f.arg}` : f.flag, f.help);
  }
  return cmd;
}

/** Turns parsed options into config overrides (commander camel-cases flag names). */
export function configOverrides(opts: Record<string, unknown>): ConfigOverride[] {
  return CONFIG_FLAGS.map((f) => ({
    path: f.path,
    flag: f.flag,
    value: opts[f.flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())],
  })).filter((o) => o.value !== undefined);
}
