import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pebble } from '../harness/pebble.js';
import { freePort } from '../harness/ports.js';
import { sClient } from '../helpers/openssl.js';
import { haveProgram } from '../helpers/programs.js';
import { PosternProcess, run, tempDir } from '../helpers/postern.js';

const tools = haveProgram('pebble', ['-h']) && haveProgram('pebble-challtestsrv', ['-h']) && haveProgram('openssl', ['version']) && haveProgram('curl', ['--version']);
const DOMAIN = 'postern.acme.test';

/** The certificate the proxy serves for `name`, checked against `caFile`: the verify result and its serial. */
async function served(port: number, caFile: string, name = DOMAIN): Promise<{ verified: boolean; serial: string; out: string }> {
  const r = await sClient(port, ['-servername', name, '-alpn', 'http/1.1', '-CAfile', caFile, '-verify_hostname', name, '-verify_return_error', '-showcerts']);
  const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.out)?.[0] ?? '';
  const { X509Certificate } = await import('node:crypto');
  return { verified: /Verify return code: 0 \(ok\)/.test(r.out), serial: leaf ? new X509Certificate(leaf).serialNumber : '', out: r.out };
}

describe.runIf(tools)('proxy.acme: a certificate from an ACME server (pebble), validated with TLS-ALPN-01 on the one port', () => {
  let pebble: Pebble;
  let port: number;
  let root: string;
  let dir: string;
  const config = (renewBefore: string) => `proxy:
  listen_addr: 127.0.0.1:${port}
  public_addr: ${DOMAIN}:${port}
  acme:
    email: ops@acme.test
    directory_url: ${pebble.directoryUrl}
    ca_file: ${pebble.caFile}
    renew_before: ${renewBefore}
`;

  beforeAll(async () => {
    port = await freePort();
    pebble = await Pebble.start({ tlsPort: port });
    root = join(tempDir('postern-acme-root-'), 'root.pem');
    writeFileSync(root, pebble.rootPem());
    dir = tempDir('postern-acme-');
  });
  afterAll(async () => {
    await pebble?.stop();
  });

  it('starts with an ACME certificate that verifies against the ACME root, and renews it when near expiry', async () => {
    writeFileSync(join(dir, 'postern.yaml'), config('30d'));
    const first = await PosternProcess.start({ dataDir: join(dir, 'data'), args: ['--config', join(dir, 'postern.yaml'), '--listen-addr', `127.0.0.1:${port}`], diag: false });
    try {
      expect(first.stdout).toContain('Certificate:  issued by the host CA until the ACME server issues one (requested at start)');
      expect(first.stdout).not.toContain('--ca-pin'); // the banner says no pin is needed: the certificate will be public
      await first.waitForLog((r) => r.msg === 'got the proxy certificate from the ACME server', 60_000).catch((err: Error) => {
        throw new Error(`${err.message}\npebble said:\n${pebble.output()}`);
      });
      await first.waitForLog((r) => r.msg === 'renewed the proxy certificate');
      const issued = await served(port, root);
      expect(issued.verified, issued.out).toBe(true);
      expect(first.logs.some((r) => r.msg === 'answered an ACME TLS-ALPN-01 validation' && r.servername === DOMAIN)).toBe(true);
      await first.stop();

      // Kept: the next start serves it at once. With renew_before longer than its life, it is near
      // expiry, and a new one is served as soon as it is issued.
      writeFileSync(join(dir, 'postern.yaml'), config('3650d'));
      const second = await PosternProcess.start({ dataDir: join(dir, 'data'), args: ['--config', join(dir, 'postern.yaml'), '--listen-addr', `127.0.0.1:${port}`], diag: false });
      try {
        expect(second.stdout).toMatch(/Certificate: {2}from the ACME server https:\/\/127\.0\.0\.1:\d+\/dir, valid until /);
        await second.waitForLog((r) => r.msg === 'renewed the proxy certificate', 60_000);
        const renewed = await served(port, root);
        expect(renewed.verified, renewed.out).toBe(true);
        expect(renewed.serial).not.toBe(issued.serial);
      } finally {
        await second.stop();
      }
    } finally {
      await first.stop();
    }
  }, 120_000);

  it('gets each app name its own certificate on first use, keeps it, and orders none for names that are no app', async () => {
    const appsDir = tempDir('postern-acme-apps-');
    writeFileSync(join(appsDir, 'postern.yaml'), config('30d'));
    const start = () => PosternProcess.start({ dataDir: join(appsDir, 'data'), args: ['--config', join(appsDir, 'postern.yaml'), '--listen-addr', `127.0.0.1:${port}`, '--demo'], diag: false });
    const got = (p: PosternProcess, name: string) => p.logs.some((r) => r.msg === `got the certificate for ${name} from the ACME server`);
    const [demo, echo, nosuch] = ['demo', 'echo', 'nosuch'].map((app) => `${app}.${DOMAIN}`) as [string, string, string];
    const server = await start();
    try {
      await server.waitForLog((r) => r.msg === 'renewed the proxy certificate', 60_000);
      // A browser reaches the app under its name, over a verified connection: the sign-in redirect
      // once the demo agent has announced it (before, "no such app", and no certificate ordered).
      const browse = (name: string) => run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Accept: text/html', '--cacert', root, '--resolve', `${name}:${port}:127.0.0.1`, `https://${name}:${port}/`]);
      let status = '';
      for (let i = 0; i < 50 && status !== '303'; i++) {
        status = (await browse(demo)).stdout;
        if (status !== '303') await new Promise((r) => setTimeout(r, 200));
      }
      expect(status).toBe('303');
      expect(got(server, demo)).toBe(true);
      // The first handshake for an app name waits while its certificate is ordered (pebble answers in seconds).
      const first = await served(port, root, echo);
      expect(first.verified, `${first.out}\npebble said:\n${pebble.output()}`).toBe(true);
      expect(got(server, echo)).toBe(true);
      // No app, no order: the proxy's own certificate, which does not name it.
      const none = await served(port, root, nosuch);
      expect(none.verified).toBe(false);
      expect(server.logs.some((r) => String(r.msg).includes(nosuch))).toBe(false);
      // Kept beside the proxy's own, the key 0600.
      expect(statSync(join(appsDir, 'data', 'acme', `${demo}.key`)).mode & 0o777).toBe(0o600);
    } finally {
      await server.stop();
    }
    // The next start serves the kept ones without ordering.
    const again = await start();
    try {
      const kept = await served(port, root, demo);
      expect(kept.verified, kept.out).toBe(true);
      expect(got(again, demo)).toBe(false);
    } finally {
      await again.stop();
    }
  }, 120_000);

  it('refuses a public address no ACME server can reach, naming the fields', async () => {
    const bad = tempDir('postern-acme-bad-');
    writeFileSync(join(bad, 'postern.yaml'), config('30d').replace(`public_addr: ${DOMAIN}`, 'public_addr: postern.localhost'));
    await expect(PosternProcess.start({ dataDir: join(bad, 'data'), args: ['--config', join(bad, 'postern.yaml')], diag: false })).rejects.toThrow(/proxy\.acme: the certificate would be for proxy\.public_addr's host postern\.localhost, which no ACME server can reach/);
  });
});
