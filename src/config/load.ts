import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { didYouMean } from '../errors/did-you-mean.js';
import { PosternError } from '../errors/postern-error.js';
import { clusterName, configSchema, perAddressDefault, type PosternConfig, type ServiceRole } from './schema.js';

/** A value given on the command line, with the config path it overrides and the flag's name. */
export interface ConfigOverride {
  path: string; // dotted, e.g. "proxy.listen_addr"
  flag: string; // e.g. "--listen-addr"
  value: unknown;
}

export interface LoadOptions {
  /** Path given with --config. When absent, ./postern.yaml is used if it exists. */
  file?: string;
  overrides?: ConfigOverride[];
  cwd?: string;
}

export interface LoadedConfig {
  config: PosternConfig;
  /** The file that was read, if any. */
  file?: string;
}

/** Reads, merges and checks the config once. Every problem is reported together, by field. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const cwd = opts.cwd ?? process.cwd();
  const file = opts.file ? resolve(cwd, opts.file) : existsSync(resolve(cwd, 'postern.yaml')) ? resolve(cwd, 'postern.yaml') : undefined;
  if (opts.file && !existsSync(file!)) {
    throw new PosternError('CONFIG_NOT_FOUND', `config file ${file} does not exist; create one with \`postern configure > ${opts.file}\` or leave out --config`);
  }
  const raw = file ? readYaml(file) : {};
  const fileDir = file ? dirname(file) : cwd;
  // Paths inside the file are relative to the file; paths from flags to the working directory.
  resolvePaths(raw, fileDir);
  const flagByPath = new Map<string, string>();
  for (const o of opts.overrides ?? []) {
    if (o.value === undefined) continue;
    setPath(raw, o.path, o.value);
    flagByPath.set(o.path, o.flag);
  }
  if (typeof raw.data_dir === 'string' && flagByPath.has('data_dir')) raw.data_dir = resolve(cwd, raw.data_dir);
  if (raw.data_dir === undefined) raw.data_dir = resolve(fileDir, './postern-data');

  const result = configSchema.safeParse(raw);
  if (!result.success) throw configError(result.error, file, flagByPath);
  const config = result.data;
  // Without a public address of its own, the one printed and put in links follows the listen port
  // (`--listen-addr 127.0.0.1:8443` alone must not send people to :3080).
  if ((raw.proxy as { public_addr?: unknown } | undefined)?.public_addr === undefined && config.proxy.listen_addr.port !== 0) {
    config.proxy.public_addr = { ...config.proxy.public_addr, port: config.proxy.listen_addr.port };
  }
  let name = config.cluster_name;
  if (name === undefined) {
    const derived = config.proxy.public_addr.host.toLowerCase();
    if (!clusterName.safeParse(derived).success) {
      throw new PosternError(
        'CONFIG_INVALID',
        `the cluster name defaults to the host of proxy.public_addr, but "${derived}" is not a valid cluster name (lower-case letters, digits, dots and dashes); set cluster_name (or --cluster-name)`,
      );
    }
    name = derived;
  }
  const roles: ServiceRole[] = config.roles ?? ['auth', 'proxy', ...(config.agent ? (['agent'] as const) : [])];
  checkRoles(roles, config, flagByPath);
  const proxy = { ...config.proxy, max_connections_per_ip: config.proxy.max_connections_per_ip ?? perAddressDefault(config.proxy.max_connections) };
  return { config: { ...config, cluster_name: name, roles: [...new Set(roles)], proxy }, ...(file ? { file } : {}) };
}

/** Combinations of roles this version can run, with the fix for the others. */
function checkRoles(roles: string[], config: { agent?: unknown }, flagByPath: Map<string, string>): void {
  const flag = flagByPath.has('roles') ? '--roles' : 'roles';
  if (roles.includes('proxy') !== roles.includes('auth')) {
    throw new PosternError('CONFIG_INVALID', `${flag}: auth and proxy run together in this version; use --roles=auth,proxy (optionally with agent), or --roles=agent`);
  }
  if (roles.includes('agent') && !config.agent) {
    throw new PosternError('CONFIG_INVALID', `${flag}: an agent needs to know its proxy: pass --proxy=HOST:PORT (and --token, --ca-pin on first start), or add an agent: section to postern.yaml`);
  }
}

function readYaml(file: string): Record<string, unknown> {
  const doc = parseDocument(readFileSync(file, 'utf8'), { prettyErrors: true, uniqueKeys: true });
  const invalid = (reason: string) => new PosternError('CONFIG_INVALID', `${file} is not valid YAML: ${reason}\nFix the file (postern configure prints a commented sample) and start again.`);
  if (doc.errors.length > 0) throw invalid(doc.errors[0]!.message.split('\n')[0]!);
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (err) {
    // yaml finds some mistakes only when it builds the value: an alias to no anchor, a merge of a non-mapping.
    throw invalid((err as Error).message);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new PosternError('CONFIG_INVALID', `${file} must hold a YAML mapping (key: value lines) at the top level; postern configure prints a sample`);
  }
  return value as Record<string, unknown>;
}

function resolvePaths(raw: Record<string, unknown>, base: string): void {
  if (typeof raw.data_dir === 'string') raw.data_dir = resolve(base, raw.data_dir);
  const certs = (raw.proxy as { certificates?: unknown } | undefined)?.certificates;
  if (Array.isArray(certs)) {
    for (const c of certs as Record<string, unknown>[]) {
      for (const k of ['cert_file', 'key_file']) if (typeof c?.[k] === 'string' && !isAbsolute(c[k] as string)) c[k] = resolve(base, c[k] as string);
    }
  }
  const acme = (raw.proxy as { acme?: Record<string, unknown> } | undefined)?.acme;
  if (typeof acme?.ca_file === 'string' && !isAbsolute(acme.ca_file)) acme.ca_file = resolve(base, acme.ca_file);
  const storage = raw.storage as Record<string, unknown> | undefined;
  if (typeof storage?.conn_string_file === 'string' && !isAbsolute(storage.conn_string_file)) storage.conn_string_file = resolve(base, storage.conn_string_file);
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const k of keys.slice(0, -1)) {
    if (typeof node[k] !== 'object' || node[k] === null) node[k] = {};
    node = node[k] as Record<string, unknown>;
  }
  node[keys.at(-1)!] = value;
}

function configError(error: z.ZodError, file: string | undefined, flagByPath: Map<string, string>): PosternError {
  const lines = error.issues.map((issue) => {
    const path = issue.path.join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys
        .map((key) => {
          const full = path ? `${path}.${key}` : key;
          const hint = didYouMean(key, knownKeys(issue.path));
          return `  ${full}: unknown field${hint ? `; did you mean ${hint}?` : ''}`;
        })
        .join('\n');
    }
    const flag = [...flagByPath].filter(([p]) => path === p || path.startsWith(p + '.')).sort((a, b) => b[0].length - a[0].length)[0]?.[1];
    return `  ${flag ? `${flag} (${path})` : path || '(top level)'}: ${issue.message}`;
  });
  const where = file ?? 'the configuration';
  return new PosternError('CONFIG_INVALID', `${where} is invalid:\n${lines.join('\n')}\nFix it (postern configure prints a commented sample) and start again.`);
}

/** The keys the schema accepts at `path`, for "did you mean" hints. */
function knownKeys(path: PropertyKey[]): string[] {
  let node: z.core.$ZodType = configSchema;
  for (const segment of [...path, '']) {
    // Unwrap defaults, optionals and transforms down to the object or array beneath.
    for (;;) {
      const def = node._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType; element?: z.core.$ZodType; shape?: Record<string, z.core.$ZodType> };
      if (def.innerType) node = def.innerType;
      else if (def.type === 'pipe' && def.in) node = def.in;
      else break;
    }
    const def = node._zod.def as { type: string; element?: z.core.$ZodType; shape?: Record<string, z.core.$ZodType> };
    if (segment === '') return def.shape ? Object.keys(def.shape) : [];
    if (def.type === 'array' && def.element) node = def.element;
    else if (def.shape && typeof segment === 'string' && def.shape[segment]) node = def.shape[segment];
    else return [];
  }
  return [];
}
