import { spawn } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { haveProgram } from '../helpers/programs.js';
import { CLI, PosternProcess, postern, run, tempDir } from '../helpers/postern.js';
import { sClient } from '../helpers/openssl.js';
import { eventually } from '../harness/eventually.js';
import { freePort } from '../harness/ports.js';

const tools = haveProgram('curl', ['--version']) && haveProgram('openssl', ['version']);

describe.runIf(tools)('postern start', () => {
  let server: PosternProcess;
  let caFile: string;

  beforeAll(async () => {
    server = await PosternProcess.start();
    caFile = join(tempDir(), 'host-ca.pem');
    const exported = await postern(['ctl', 'auth', 'export', '--data-dir', server.dataDir]);
    expect(exported.code).toBe(0);
    writeFileSync(caFile, exported.stdout);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('prints where it listens, the cluster, the CA pin and what to do next', async () => {
    const status = await postern(['ctl', 'status', '--data-dir', server.dataDir, '--format', 'json']);
    const pin = (JSON.parse(status.stdout) as { authorities: { host: { pin: string } } }).authorities.host.pin;
    expect(server.stdout).toContain(`Listening:    127.0.0.1:${server.proxyPort}`);
    expect(server.stdout).toContain('Cluster:      postern.localhost');
    expect(server.stdout).toContain(`CA pin:       ${pin}`);
    expect(server.stdout).toMatch(/Next:\n(.*\n)*  - Check it answers:  curl --cacert/);
    expect(pin).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('serves /webapi/ping over HTTP/1.1 and HTTP/2 to curl, verified against the host CA by name', async () => {
    for (const [flag, version] of [['--http1.1', '1.1'], ['--http2', '2']] as const) {
      const r = await run('curl', ['-sS', flag, '--cacert', caFile, '-w', '\n%{http_version} %{http_code}', server.url('/webapi/ping')]);
      expect(r.code, r.stderr).toBe(0);
      const [body, meta] = r.stdout.split('\n');
      expect(meta).toBe(`${version} 200`);
      expect(JSON.parse(body!)).toEqual({
        cluster_name: 'postern.localhost',
        public_addr: 'postern.localhost:3080',
        version: expect.stringMatching(/^\d+\.\d+\.\d+/),
        protocols: ['postern-reversetunnel', 'postern-ssh', 'postern-tcp', 'postern-postgres', 'postern-mysql', 'h2', 'http/1.1'],
        client_addr: '127.0.0.1',
      });
    }
  });

  it('has a certificate for app subdomains, localhost and 127.0.0.1', async () => {
    // curl verifies the certificate against the host CA and the name in every case; an app
    // subdomain then answers as an app (no session: 401), the others as the proxy.
    const expected: [string, string][] = [
      [server.url('/webapi/ping', 'grafana.postern.localhost'), '401'],
      [server.url('/webapi/ping', 'localhost'), '200'],
      [server.url('/webapi/ping', '127.0.0.1'), '200'],
    ];
    for (const [url, status] of expected) {
      const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', caFile, url]);
      expect(r.code, `${url}: ${r.stderr}`).toBe(0);
      expect(r.stdout, url).toBe(status);
    }
  });

  it('answers errors in the wire form with a code and a next step', async () => {
    const r = await run('curl', ['-sS', '-w', '\n%{http_code}', '--cacert', caFile, server.url('/webapi/nothing')]);
    const [body, status] = r.stdout.split('\n');
    expect(status).toBe('404');
    expect(JSON.parse(body!)).toEqual({ error: { code: 'NOT_FOUND', message: expect.stringContaining('/webapi/ping'), request_id: expect.any(String) } });
  });

  it('sends browsers from / to the web UI', async () => {
    const r = await run('curl', ['-sS', '-L', '-o', '/dev/null', '-w', '%{http_code} %{url_effective}', '--cacert', caFile, server.url('/')]);
    expect(r.stdout).toBe(`200 ${server.url('/web')}`);
  });

  it('tells a plain-HTTP client to use https, with a 400', async () => {
    const r = await run('curl', ['-sS', '-w', '\n%{http_code}', `http://127.0.0.1:${server.proxyPort}/webapi/ping`]);
    expect(r.stdout).toMatch(/does not serve plain HTTP\.\nUse https:\/\/postern\.localhost:3080 instead\.\n\n400$/);
    await server.waitForLog((l) => l.reason === 'plain_http');
  });

  it('negotiates h2 with openssl s_client and verifies the chain and name', async () => {
    const r = await sClient(server.proxyPort, ['-alpn', 'h2', '-servername', 'postern.localhost', '-CAfile', caFile, '-verify_hostname', 'postern.localhost', '-verify_return_error']);
    expect(r.out).toContain('ALPN protocol: h2');
    expect(r.out).toMatch(/Verify return code: 0 \(ok\)/);
  });

  it('refuses an unknown ALPN with a no_application_protocol alert and a log line', async () => {
    const r = await sClient(server.proxyPort, ['-alpn', 'postern-nonsense', '-servername', 'postern.localhost']);
    expect(r.out).toMatch(/alert no application protocol/);
    const line = await server.waitForLog((l) => l.reason === 'unknown_alpn');
    expect(line.msg).toContain('"postern-nonsense"');
  });

  it('refuses protocols that are not built yet, saying so', async () => {
    for (const [args, what] of [
      [['-alpn', 'postern-mongodb'], 'MongoDB access'],
      [['-alpn', 'postern-postgres-ping'], 'PostgreSQL access'],
      [['-alpn', 'h2', '-servername', 'kube.postern.localhost'], 'the Kubernetes API'],
    ] as const) {
      const r = await sClient(server.proxyPort, [...args]);
      expect(r.out).toMatch(/alert no application protocol/);
      const line = await server.waitForLog((l) => l.reason === 'protocol_unavailable' && String(l.msg).includes(what));
      expect(line.msg).toMatch(/is not available in this version of Postern yet/);
    }
  });

  it('closes a kube.* connection that offered no ALPN after the handshake, and stays up', async () => {
    // No ALPN means no alert can be sent; the handshake completes and the proxy hangs up.
    const r = await sClient(server.proxyPort, ['-servername', 'kube.postern.localhost']);
    expect(r.out).toContain('CONNECTED');
    const line = await server.waitForLog((l) => l.reason === 'protocol_unavailable' && String(l.msg).includes('no ALPN'));
    expect(line.msg).toMatch(/the Kubernetes API is not available in this version of Postern yet/);
    const ping = await run('curl', ['-sS', '--cacert', caFile, '-o', '/dev/null', '-w', '%{http_code}', server.url('/webapi/ping')]);
    expect(ping.stdout).toBe('200');
  });

  it('serves health, readiness and Prometheus metrics on the diagnostics address', async () => {
    const diag = `http://127.0.0.1:${server.diagPort}`;
    expect((await run('curl', ['-sS', `${diag}/healthz`])).stdout).toBe('ok\n');
    const ready = JSON.parse((await run('curl', ['-sS', `${diag}/readyz`])).stdout) as unknown;
    expect(ready).toEqual({ ready: true, checks: { storage: 'ok', authorities: 'ok', listener: 'ok' } });
    const metrics = (await run('curl', ['-sS', `${diag}/metrics`])).stdout;
    expect(metrics).toMatch(/^postern_proxy_connections_total\{protocol="web"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^postern_proxy_handshake_failures_total\{reason="plain_http"\} [1-9]/m);
    expect(metrics).toMatch(/^postern_proxy_handshake_duration_seconds_count [1-9]/m);
    expect(metrics).toMatch(/^postern_proxy_open_connections\{protocol="handshake"\} \d+$/m);
    // One figure, without collecting the rest; an unknown name says so.
    const one = (await run('curl', ['-sS', `${diag}/metrics?name=postern_tunnels_connected&name=postern_proxy_handshake_failures_total`])).stdout;
    expect(one).toMatch(/^postern_tunnels_connected 0$/m);
    expect(one).toMatch(/^postern_proxy_handshake_failures_total\{reason="plain_http"\} [1-9]/m);
    expect(one).not.toMatch(/process_|postern_proxy_connections_total/);
    const unknown = await run('curl', ['-sS', '-w', '%{http_code}', `${diag}/metrics?name=postern_tunnel_connected`]);
    expect(unknown.stdout).toBe('no metric named postern_tunnel_connected; /metrics lists them all\n404');
  });
});

describe.runIf(tools)('postern start lifecycle', () => {
  it('stops cleanly on Ctrl-C and keeps the same CAs and cluster on the next start', async () => {
    const first = await PosternProcess.start({ diag: false });
    const pin = /CA pin:\s+(sha256:\w+)/.exec(first.stdout)![1];
    const started = Date.now();
    expect(await first.stop('SIGINT')).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(first.stdout).toContain('Postern stopped.');
    const second = await PosternProcess.start({ dataDir: first.dataDir, diag: false });
    expect(/CA pin:\s+(sha256:\w+)/.exec(second.stdout)![1]).toBe(pin);
    const status = await postern(['ctl', 'status', '--data-dir', first.dataDir]);
    expect(status.stdout).toContain(`Host CA pin:  ${pin}`);
    expect(await second.stop('SIGTERM')).toBe(0);
  });

  it('invites the first administrator on a new cluster, with a fresh link at each start until it is used', async () => {
    const link = (out: string) => /First administrator: .*\n\s+(https:\/\/\S+\/web\/invite\/\S+)/.exec(out)?.[1];
    // Invite links carry the public address: it must name the port the proxy really listens on.
    const port = await freePort();
    const args = ['--listen-addr', `127.0.0.1:${port}`, '--public-addr', `postern.localhost:${port}`];
    const first = await PosternProcess.start({ diag: false, args });
    const url = link(first.stdout);
    expect(url, first.stdout).toMatch(new RegExp(`^https://postern\\.localhost:${first.proxyPort}/web/invite/`));
    const pin = /CA pin:\s+(sha256:\w+)/.exec(first.stdout)![1];
    expect(first.stdout).toContain(`postern trust --proxy=postern.localhost:${first.proxyPort} --ca-pin=${pin}`);
    expect(first.stdout).toContain(`postern login --proxy=postern.localhost:${first.proxyPort} --user=admin --ca-pin=${pin}`);
    const users = await postern(['ctl', 'get', 'users', '--data-dir', first.dataDir, '--format', 'json']);
    expect(JSON.parse(users.stdout)).toEqual([expect.objectContaining({ name: 'admin', roles: ['editor', 'access'] })]);
    const ca = join(tempDir(), 'ca.pem');
    writeFileSync(ca, (await postern(['ctl', 'auth', 'export', '--data-dir', first.dataDir])).stdout);
    const opened = async (link: string) => (await run('curl', ['-sS', '--cacert', ca, '-o', '/dev/null', '-w', '%{http_code}', link])).stdout;
    expect(await opened(url!)).toBe('200');
    await first.stop();

    // Not used yet: the next start makes a new link (the last may have expired), and the old one stops working.
    const second = await PosternProcess.start({ dataDir: first.dataDir, diag: false, args });
    const again = link(second.stdout);
    expect(again).toBeDefined();
    expect(again).not.toBe(url);
    expect(await opened(again!)).toBe('200');
    expect(await opened(url!)).not.toBe('200');
    const set = await postern(['ctl', 'users', 'reset', 'admin', '--password-stdin', '--data-dir', first.dataDir], { input: 'a long enough password\n' });
    expect(set.code, set.stderr).toBe(0);
    await second.stop();

    // Set up: no more links.
    const third = await PosternProcess.start({ dataDir: first.dataDir, diag: false, args });
    expect(third.stdout).not.toContain('First administrator');
    expect(third.stdout).toContain('--user=NAME');
    await third.stop();
  });

  it('stops when npx, which started it, is stopped (npm leaves its grandchild running otherwise)', async () => {
    const port = await freePort();
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const dataDir = join(tempDir(), 'data');
    const npx = spawn('npx', ['postern', 'start', '--data-dir', dataDir, '--listen-addr', `127.0.0.1:${port}`, '--public-addr', `postern.localhost:${port}`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    npx.stdout!.on('data', (d: Buffer) => (out += d));
    npx.stderr!.on('data', (d: Buffer) => (out += d));
    await eventually(() => (out.includes('Press Ctrl-C') ? true : undefined), () => `npx postern start did not start:\n${out}`, 60_000);
    npx.kill('SIGTERM'); // npx alone, not its process group: as a supervisor or a closed terminal tab would
    // Its output went through npm, so what it says as it stops may not reach here: the process is looked for instead.
    const running = async () => (await run('pgrep', ['-f', `start --data-dir ${dataDir}`])).code === 0;
    await eventually(async () => ((await running()) ? undefined : true), () => `the server still runs after npx was stopped:\n${out}`, 5000);
    expect(await connects(port)).toBe(false);
  }, 90_000);

  it('runs from the sample that postern configure prints', async () => {
    const dir = tempDir();
    const sample = await postern(['configure']);
    expect(sample.code).toBe(0);
    writeFileSync(join(dir, 'postern.yaml'), sample.stdout);
    const server = await PosternProcess.start({ dataDir: join(dir, 'data'), args: ['--config', join(dir, 'postern.yaml')], diag: false });
    expect(server.stdout).toContain('Cluster:      postern.localhost');
    const status = await postern(['ctl', 'status', '--config', join(dir, 'postern.yaml'), '--data-dir', join(dir, 'data')]);
    expect(status.stdout).toContain('Cluster:      postern.localhost');
    await server.stop();
  });

  it('serves certificate files from the config instead of issuing its own', async () => {
    const dir = tempDir();
    const [cert, key] = [join(dir, 'tls.crt'), join(dir, 'tls.key')];
    const made = await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=proxy.example.test', '-addext', 'subjectAltName=DNS:proxy.example.test', '-days', '1']);
    expect(made.code, made.stderr).toBe(0);
    writeFileSync(join(dir, 'postern.yaml'), `proxy:\n  certificates:\n    - cert_file: tls.crt\n      key_file: tls.key\n`);
    const server = await PosternProcess.start({ args: ['--config', join(dir, 'postern.yaml')], diag: false });
    const r = await sClient(server.proxyPort, ['-alpn', 'http/1.1', '-CAfile', cert, '-verify_hostname', 'proxy.example.test', '-verify_return_error']);
    expect(r.out).toMatch(/Verify return code: 0 \(ok\)/);
    expect(server.stdout).toContain(`Certificate:  from ${cert}`);
    await server.stop();
  });
});

describe('postern CLI errors', () => {
  it('names the field and the fix for a bad config, exiting 78', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'postern.yaml'), 'proxy:\n  listen_adr: 1.2.3.4:5\n  handshake_timeout: forever\n');
    const r = await postern(['start', '--config', join(dir, 'postern.yaml'), '--data-dir', join(dir, 'data')]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/proxy\.listen_adr: unknown field; did you mean listen_addr\?/);
    expect(r.stderr).toMatch(/proxy\.handshake_timeout: "forever" is not a duration/);
  });

  it('rejects unknown flags and bad flag values', async () => {
    const unknown = await postern(['start', '--listen-adr', 'x']);
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toMatch(/unknown option '--listen-adr'.*\n.*Did you mean --listen-addr\?/);
    const bad = await postern(['start', '--listen-addr', 'nohost', '--data-dir', join(tempDir(), 'd')]);
    expect(bad.code).toBe(78);
    expect(bad.stderr).toMatch(/--listen-addr \(proxy\.listen_addr\): "nohost" has no port/);
  });

  it('says when the listen address is taken', async () => {
    const server = await PosternProcess.start({ diag: false });
    const r = await postern(['start', '--listen-addr', `127.0.0.1:${server.proxyPort}`, '--data-dir', join(tempDir(), 'd')]);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/cannot listen on 127\.0\.0\.1:\d+: the address is in use/);
    await server.stop();
  });

  it('refuses to reuse a data dir under another cluster name', async () => {
    const server = await PosternProcess.start({ diag: false });
    await server.stop();
    const r = await postern(['start', '--data-dir', server.dataDir, '--cluster-name', 'other', '--listen-addr', '127.0.0.1:0']);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/belongs to cluster "postern\.localhost", but the config names "other"/);
  });

  it('tells ctl where there is no cluster yet', async () => {
    const r = await postern(['ctl', 'status', '--data-dir', join(tempDir(), 'empty')]);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/no cluster in .*empty.*run `postern start` first/);
  });

  it('explains every command and flag in --help', async () => {
    const top = await postern(['--help']);
    expect(top.stdout).toMatch(/start .*\n.*configure.*\n.*ctl/s);
    for (const cmd of [['start'], ['configure'], ['ctl'], ['ctl', 'status'], ['ctl', 'auth', 'export']]) {
      const r = await postern([...cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: postern /);
    }
    expect((await postern(['start', '--help'])).stdout).toMatch(/--diag-addr <host:port>\s+serve \/healthz/);
  });

  it('runs as an installed command: the shell preamble starts Node with its V8 flags', async () => {
    // npm links `postern` to this file; a symlink is how it is run, with its own name in $0.
    const dir = tempDir();
    const link = join(dir, 'postern');
    symlinkSync(CLI, link);
    // A preload that tells which flags Node was started with.
    writeFileSync(join(dir, 'flags.cjs'), 'process.stderr.write(JSON.stringify(process.execArgv) + "\\n");');
    const r = await run(link, ['--version'], { env: { NODE_OPTIONS: `--require ${join(dir, 'flags.cjs')}` } });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(JSON.parse(r.stderr.trim())).toEqual([...NODE_FLAGS]);
  });
});

/** Whether something accepts TCP connections on the loopback port. */
function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}
