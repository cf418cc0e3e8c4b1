import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, stopProcess, waitUntilBound } from './ports.js';
import { tempDir } from './temp.js';

/**
 * Debian's pebble (a test ACME server) with pebble-challtestsrv as its DNS, which answers every
 * name with 127.0.0.1: the server validates TLS-ALPN-01 by connecting to `tlsPort` on this
 * machine, wherever the name points. Its own HTTPS uses a certificate made here (`caFile`);
 * the certificates it issues chain to `rootPem()`. Random nonce refusals and authorization reuse
 * are off, so that each order goes through a challenge.
 */
export class Pebble {
  private constructor(
    private readonly pebble: ChildProcess,
    private readonly dns: ChildProcess,
    readonly directoryUrl: string,
    readonly caFile: string,
    private readonly managementUrl: string,
    /** What pebble and its DNS said, for a failing test's message. */
    readonly output: () => string,
  ) {}

  static async start(opts: { tlsPort: number }): Promise<Pebble> {
    const dir = tempDir('postern-pebble-');
    const [cert, key] = [join(dir, 'pebble.crt'), join(dir, 'pebble.key')];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=pebble', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-days', '2'], { stdio: 'ignore' });
    const [acmePort, managementPort, dnsPort, dnsManagementPort, httpPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    writeFileSync(
      join(dir, 'pebble.json'),
      JSON.stringify({ pebble: { listenAddress: `127.0.0.1:${acmePort}`, managementListenAddress: `127.0.0.1:${managementPort}`, certificate: cert, privateKey: key, httpPort, tlsPort: opts.tlsPort, ocspResponderURL: '', externalAccountBindingRequired: false } }),
    );
    let stderr = '';
    const collect = (child: ChildProcess) => {
      child.stdout!.on('data', (d: Buffer) => (stderr += d));
      child.stderr!.on('data', (d: Buffer) => (stderr += d));
      return child;
    };
    const dns = collect(spawn('pebble-challtestsrv', ['-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${dnsManagementPort}`], { stdio: ['ignore', 'pipe', 'pipe'] }));
    await waitUntilBound(dns, dnsManagementPort, 'pebble-challtestsrv', () => stderr);
    const pebble = collect(
      spawn('pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
      }),
    );
    await waitUntilBound(pebble, acmePort, 'pebble', () => stderr);
    return new Pebble(pebble, dns, `https://127.0.0.1:${acmePort}/dir`, cert, `https://127.0.0.1:${managementPort}`, () => stderr);
  }

  /** The root the issued certificates chain to (pebble makes a new one each run). */
  rootPem(): string {
    return execFileSync('curl', ['-sS', '--cacert', this.caFile, `${this.managementUrl}/roots/0`], { encoding: 'utf8' });
  }

  async stop(): Promise<void> {
    await stopProcess(this.pebble, 'SIGTERM');
    await stopProcess(this.dns, 'SIGTERM');
  }
}
