import type { Command } from 'commander';
import type { ConfigOverride } from '../config/load.js';
import { parseResourceFlag } from '../config/resource-flags.js';
import { AGENT_KINDS } from '../resources/table.js';
import { listArg } from './parse.js';

interface ConfigFlag {
  flag: string;
  arg: string;
  path: string;
  help: string;
  /** Turns the flag's text into the config value. */
  parse?: (value: string) => unknown;
  /** The flag may be given several times; the values make a list. */
  repeat?: boolean;
}

/** Flags that override keys of postern.yaml. One table, so help text and overrides cannot drift. */
export const CONFIG_FLAGS: readonly ConfigFlag[] = [
  { flag: '--data-dir', arg: '<dir>', path: 'data_dir', help: 'where state and certificate authorities live (default ./postern-data)' },
  { flag: '--listen-addr', arg: '<host:port>', path: 'proxy.listen_addr', help: 'the one TLS port to listen on (default 0.0.0.0:3080)' },
  { flag: '--public-addr', arg: '<host:port>', path: 'proxy.public_addr', help: 'the address users and agents reach the proxy at (default postern.localhost:3080)' },
  { flag: '--diag-addr', arg: '<host:port>', path: 'diag_addr', help: 'serve /healthz, /readyz and /metrics over HTTP here (default off)' },
  { flag: '--cluster-name', arg: '<name>', path: 'cluster_name', help: 'the cluster name, fixed on first start (default: the public host)' },
  { flag: '--use-proxy-protocol', arg: '', path: 'proxy.use_proxy_protocol', help: 'require a PROXY v1/v2 header on every connection (behind an L4 load balancer)' },
  { flag: '--log-level', arg: '<level>', path: 'log.level', help: 'debug, info, warn or error (default info)' },
  { flag: '--log-format', arg: '<format>', path: 'log.format', help: 'auto, json or text (default auto: text on a terminal)' },
  { flag: '--roles', arg: '<roles>', path: 'roles', parse: listArg, help: 'what to run: auth,proxy (the default), agent, or all three' },
  { flag: '--proxy', arg: '<host:port>', path: 'agent.proxy', help: 'agent: the proxy to dial out to' },
  { flag: '--token', arg: '<token>', path: 'agent.token', help: 'agent: the join token (from `postern ctl tokens add`), needed on first start' },
  { flag: '--ca-pin', arg: '<sha256:hex>', path: 'agent.ca_pin', help: "agent: the pin of the cluster's host CA, checked before joining" },
  { flag: '--agent-name', arg: '<name>', path: 'agent.name', help: 'agent: how this agent is listed (default: the host name)' },
  // One repeatable flag per kind of resource agents serve (resources/table.ts).
  ...AGENT_KINDS.map(({ agent }) => ({
    flag: agent.flag,
    arg: '<spec>',
    path: `agent.${agent.configKey}`,
    repeat: true,
    parse: (v: string) => parseResourceFlag(agent.flag, v),
    help: `agent: ${agent.flagHelp}, e.g. ${agent.flagExample} (repeatable)`,
  })),
];

export function addConfigFileFlag(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'read settings from this postern.yaml (default ./postern.yaml if it exists)');
}

export function addConfigFlags(cmd: Command, only?: readonly string[]): Command {
  addConfigFileFlag(cmd);
  for (const f of CONFIG_FLAGS) {
    if (only && !only.includes(f.flag)) continue;
    if (!f.arg) cmd.option(f.flag, f.help);
    else if (f.repeat) cmd.option(`${f.flag} ${f.arg}`, f.help, (v: string, prev: unknown[] = []) => [...prev, f.parse ? f.parse(v) : v]);
    else if (f.parse) cmd.option(`${f.flag} ${f.arg}`, f.help, f.parse);
    else cmd.option(`${f.flag} ${f.arg}`, f.help);
  }
  return cmd;
}

/**
 * Turns parsed options into config overrides (commander camel-cases flag names). `only` must be
 * the list given to addConfigFlags: a command's own options (`users add --roles`) are not config.
 */
export function configOverrides(opts: Record<string, unknown>, only?: readonly string[]): ConfigOverride[] {
  return CONFIG_FLAGS.filter((f) => !only || only.includes(f.flag)).map((f) => ({
    path: f.path,
    flag: f.flag,
    value: opts[f.flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())],
  })).filter((o) => o.value !== undefined);
}
