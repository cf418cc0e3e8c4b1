import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPosternError } from '../errors/postern-error.js';
import { parseDuration } from './duration.js';
import { loadConfig } from './load.js';
import { parseResourceFlag } from './resource-flags.js';
import { sampleConfig } from './sample.js';
import { configSchema } from './schema.js';

function withFile(text: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'postern-config-'));
  const file = join(dir, 'postern.yaml');
  writeFileSync(file, text);
  return { dir, file };
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isPosternError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
  throw new Error('expected an error');
}

describe('config', () => {
  it('fills every default with no file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-config-'));
    const { config, file } = loadConfig({ cwd: dir });
    expect(file).toBeUndefined();
    expect(config.proxy.listen_addr).toEqual({ host: '0.0.0.0', port: 3080 });
    expect(config.proxy.public_addr).toEqual({ host: 'postern.localhost', port: 3080 });
    expect(config.cluster_name).toBe('postern.localhost');
    expect(config.data_dir).toBe(join(dir, 'postern-data'));
    expect(config.proxy.handshake_timeout).toBe(10_000);
    expect(config.diag_addr).toBeUndefined();
  });

  it('loads the sample that postern configure prints, unchanged', () => {
    const { file, dir } = withFile(sampleConfig());
    const { config } = loadConfig({ file });
    expect(config.data_dir).toBe(join(dir, 'postern-data'));
    expect(config.proxy.use_proxy_protocol).toBe(false);
  });

  it('names every key the config takes in the sample postern configure prints', () => {
    const sample = sampleConfig();
    // An object schema's keys, through the default/optional wrappers around it.
    const keysOf = (schema: unknown): string[] => {
      let s = schema as { shape?: Record<string, unknown>; unwrap?: () => unknown; _zod: { def: { in?: unknown } } };
      while (!s.shape && (s.unwrap || s._zod.def.in)) s = (s.unwrap ? s.unwrap() : s._zod.def.in) as typeof s;
      return Object.keys(s.shape ?? {});
    };
    const missing: string[] = [];
    const named = (key: string) => new RegExp(`^ *(# *)?${key}:`, 'm').test(sample);
    for (const key of keysOf(configSchema)) if (!named(key)) missing.push(key);
    for (const section of ['log', 'auth', 'storage', 'proxy', 'agent'] as const) {
      for (const key of keysOf(configSchema.shape[section])) if (!named(key)) missing.push(`${section}.${key}`);
    }
    expect(missing).toEqual([]);
  });

  it('lets flags override the file, paths from flags relative to the working directory', () => {
    const { file } = withFile('proxy:\n  listen_addr: 127.0.0.1:1\ndata_dir: /var/lib/x\n');
    const { config } = loadConfig({
      file,
      cwd: '/srv',
      overrides: [
        { path: 'proxy.listen_addr', flag: '--listen-addr', value: '127.0.0.1:2' },
        { path: 'data_dir', flag: '--data-dir', value: 'state' },
        { path: 'cluster_name', flag: '--cluster-name', value: undefined },
      ],
    });
    expect(config.proxy.listen_addr.port).toBe(2);
    expect(config.data_dir).toBe('/srv/state');
  });

  it('names the field and the fix for every problem at once', () => {
    const { file } = withFile('proxy:\n  listen_addr: nope\n  handshake_timeout: soon\n  use_proxy_protcol: true\ncluster_name: Bad_Name\n');
    const msg = errorOf(() => loadConfig({ file }));
    expect(msg).toMatch(/^CONFIG_INVALID: .*postern\.yaml is invalid/);
    expect(msg).toMatch(/proxy\.listen_addr: "nope" has no port; write host:port/);
    expect(msg).toMatch(/proxy\.handshake_timeout: "soon" is not a duration/);
    expect(msg).toMatch(/proxy\.use_proxy_protcol: unknown field; did you mean use_proxy_protocol\?/);
    expect(msg).toMatch(/cluster_name: use lower-case letters/);
    expect(msg).toMatch(/postern configure prints a commented sample/);
  });

  it('checks what an agent would announce before it dials', () => {
    const { file } = withFile(
      'agent:\n  apps:\n    - { name: ui, uri: "http://localhost:3000", public_addr: "login.postern.example.com" }\n    - { name: docs, uri: "http://localhost:3001", description: "' +
        'x'.repeat(1025) +
        '" }\n',
    );
    expect(errorOf(() => loadConfig({ file }))).toMatch(/agent\.proxy: the agent needs the proxy to dial: give --proxy host:port/);
    const withProxy = withFile(`agent:\n  proxy: postern.example.com:443\n${readFileSync(file, 'utf8').split('\n').slice(1).join('\n')}`);
    const msg = errorOf(() => loadConfig({ file: withProxy.file }));
    expect(msg).toMatch(/agent\.apps\.0\.public_addr: login\.postern\.example\.com is the proxy's own name or one under it/);
    expect(msg).toMatch(/agent\.apps\.1\.description: a description is at most 1024 characters/);
  });

  it('takes insecure_skip_verify for https apps from YAML and from --app', () => {
    const app = (spec: string) => ({ path: 'agent.apps', flag: '--app', value: [parseResourceFlag('--app', spec)] });
    const proxy = { path: 'agent.proxy', flag: '--proxy', value: 'postern.example.com:443' };
    const { config } = loadConfig({ cwd: tmpdir(), overrides: [proxy, app('name=wiki,uri=https://localhost:8443,insecure_skip_verify=true')] });
    expect(config.agent?.apps[0]?.insecure_skip_verify).toBe(true);
    const msg = errorOf(() => loadConfig({ cwd: tmpdir(), overrides: [proxy, app('name=wiki,uri=https://localhost:8443,insecure_skip_verify=maybe')] }));
    expect(msg).toContain("--app (agent.apps.0.insecure_skip_verify): write true or false");
  });

  it('takes the public port from --listen-addr when no public address is given', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-config-'));
    const { config } = loadConfig({ cwd: dir, overrides: [{ path: 'proxy.listen_addr', flag: '--listen-addr', value: '127.0.0.1:8443' }] });
    expect(config.proxy.public_addr).toEqual({ host: 'postern.localhost', port: 8443 });
    const both = loadConfig({ cwd: dir, overrides: [{ path: 'proxy.listen_addr', flag: '--listen-addr', value: '127.0.0.1:8443' }, { path: 'proxy.public_addr', flag: '--public-addr', value: 'postern.example.com:443' }] });
    expect(both.config.proxy.public_addr).toEqual({ host: 'postern.example.com', port: 443 });
  });

  it('names the flag when a flag value is wrong', () => {
    const msg = errorOf(() => loadConfig({ cwd: tmpdir(), overrides: [{ path: 'proxy.listen_addr', flag: '--listen-addr', value: '[::1' }] }));
    expect(msg).toMatch(/--listen-addr \(proxy\.listen_addr\):/);
  });

  it('reports malformed YAML and a missing file clearly', () => {
    const { file } = withFile('proxy: [unclosed\n');
    expect(errorOf(() => loadConfig({ file }))).toMatch(/CONFIG_INVALID: .* is not valid YAML/);
    expect(errorOf(() => loadConfig({ file: '/nonexistent/postern.yaml' }))).toMatch(/CONFIG_NOT_FOUND: .*postern configure/);
    expect(errorOf(() => loadConfig({ file: withFile('- a list\n').file }))).toMatch(/YAML mapping/);
  });

  it('bounds durations so a timer cannot overflow', () => {
    const { file } = withFile('proxy:\n  handshake_timeout: 30d\n');
    expect(errorOf(() => loadConfig({ file }))).toMatch(/proxy\.handshake_timeout: "30d" is out of range; use between 100ms and 10m/);
  });

  it('checks a cluster name derived from the public address', () => {
    const msg = errorOf(() => loadConfig({ cwd: tmpdir(), overrides: [{ path: 'proxy.public_addr', flag: '--public-addr', value: '[::1]:3080' }] }));
    expect(msg).toMatch(/CONFIG_INVALID: .*"::1" is not a valid cluster name.*set cluster_name \(or --cluster-name\)/);
    const ok = loadConfig({ cwd: tmpdir(), overrides: [{ path: 'proxy.public_addr', flag: '--public-addr', value: 'Proxy.Example.COM' }] });
    expect(ok.config.cluster_name).toBe('proxy.example.com');
  });

  it('parses durations', () => {
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('10')).toBeUndefined();
  });
});
