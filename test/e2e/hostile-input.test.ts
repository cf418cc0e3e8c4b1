import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PosternProcess, postern, tempDir } from '../helpers/postern.js';

/** The first bytes of a real ClientHello, as Node's TLS client sends it. */
async function captureClientHello(): Promise<Buffer> {
  const { createServer } = await import('node:net');
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const got = once(srv, 'connection').then(async ([sock]) => {
    const [data] = (await once(sock as Socket, 'data')) as [Buffer];
    (sock as Socket).destroy();
    return data;
  });
  const client = tlsConnect({ port: (srv.address() as { port: number }).port, host: '127.0.0.1', servername: 'postern.localhost' });
  client.on('error', () => {});
  const hello = await got;
  srv.close();
  return hello;
}

function open(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  return once(s, 'connect').then(() => s);
}

/** Resolves with how long the server took to close the socket. */
async function closedWithin(socket: Socket, ms: number): Promise<number> {
  const started = Date.now();
  socket.resume(); // read (and drop) what the server sends, such as a TLS alert, so the close is seen
  // Not once(socket, 'close'): that rejects on 'error', and a server that drops a client with
  // unread bytes in flight resets it (ECONNRESET), which is a close too.
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms))]);
  return Date.now() - started;
}

describe('hostile and broken input on the TLS port', () => {
  let server: PosternProcess;
  let ca: string;

  beforeAll(async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'postern.yaml'), 'proxy:\n  handshake_timeout: 800ms\n');
    server = await PosternProcess.start({ args: ['--config', join(dir, 'postern.yaml')] });
    ca = (await postern(['ctl', 'auth', 'export', '--data-dir', server.dataDir])).stdout;
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** Sends `request` over HTTP/1.1 and TLS; resolves with all the server answered before it closed. */
  async function exchange(request: string, options: ConnectionOptions = {}): Promise<string> {
    const tls = tlsConnect({ port: server.proxyPort, host: '127.0.0.1', servername: 'postern.localhost', ca, ALPNProtocols: ['http/1.1'], ...options });
    await once(tls, 'secureConnect');
    tls.end(request);
    let text = '';
    for await (const chunk of tls) text += String(chunk);
    return text;
  }

  async function stillServes(): Promise<void> {
    expect(await exchange('GET /webapi/ping HTTP/1.1\r\nHost: postern.localhost\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 200/);
    expect(server.alive).toBe(true);
  }

  it('closes a connection that sends garbage, and says why', async () => {
    const s = await open(server.proxyPort);
    s.write(Buffer.from([0x00, 0xff, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef]));
    await closedWithin(s, 2000);
    const line = await server.waitForLog((l) => l.reason === 'not_tls');
    expect(line.msg).toMatch(/the first bytes are not a TLS handshake; clients must speak TLS/);
    await stillServes();
  });

  it('drops a truncated ClientHello at the handshake deadline', async () => {
    const hello = await captureClientHello();
    const s = await open(server.proxyPort);
    s.write(hello.subarray(0, Math.floor(hello.length / 2)));
    const took = await closedWithin(s, 5000);
    expect(took).toBeGreaterThanOrEqual(500);
    await server.waitForLog((l) => l.reason === 'handshake_timeout');
    await stillServes();
  });

  it('drops a client that trickles its ClientHello, at the deadline, not later', async () => {
    const hello = await captureClientHello();
    const s = await open(server.proxyPort);
    let sent = 0;
    const trickle = setInterval(() => sent < hello.length - 1 && s.write(hello.subarray(sent, ++sent)), 100);
    try {
      const took = await closedWithin(s, 5000);
      expect(took).toBeLessThan(2000);
      expect(sent).toBeGreaterThan(3);
    } finally {
      clearInterval(trickle);
    }
    await stillServes();
  });

  it('drops a silent client and a half-open one', async () => {
    const silent = await open(server.proxyPort);
    const halfOpen = await open(server.proxyPort);
    halfOpen.end(); // FIN without a byte
    await closedWithin(halfOpen, 2000);
    await closedWithin(silent, 5000);
    await server.waitForLog((l) => l.reason === 'client_closed');
    await stillServes();
  });

  it('answers a malformed TLS record with an alert, not a crash', async () => {
    const s = await open(server.proxyPort);
    // A handshake record header claiming 16 KiB, then random bytes.
    s.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00]), Buffer.from(Array.from({ length: 16384 }, (_, i) => (i * 7919) & 0xff))]));
    await closedWithin(s, 3000);
    await server.waitForLog((l) => l.reason === 'tls_error');
    await stillServes();
  });

  it('refuses a ClientHello with thousands of ALPN names early, in a short log line', async () => {
    const names = Array.from({ length: 8000 }, (_, i) => `p${i}`);
    const tls = tlsConnect({ port: server.proxyPort, host: '127.0.0.1', servername: 'postern.localhost', ca, ALPNProtocols: names });
    const err = await new Promise<Error & { code?: string }>((resolve) => tls.once('error', resolve));
    expect(err.code).toBe('ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL');
    const line = await server.waitForLog((l) => l.reason === 'alpn_list_too_long');
    expect(line.msg).toMatch(/the client offered 8000 ALPN names; at most 32 are accepted/);
    expect(JSON.stringify(line).length).toBeLessThan(1000);
    await stillServes();
  });

  it('answers oversized and malformed requests with the 4xx that says why, never a 500 or a dropped connection', async () => {
    const request = (head: string, body = '') => exchange(`${head}\r\nHost: postern.localhost\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    expect(await request(`GET /webapi/ping HTTP/1.1\r\nX-Big: ${'a'.repeat(100_000)}`)).toMatch(/^HTTP\/1\.1 431 [\s\S]*larger than 16 KiB/);
    expect(await request('POST /webapi/sessions HTTP/1.1\r\nContent-Type: application/json', `{"user": "${'a'.repeat(100_000)}"}`)).toMatch(/^HTTP\/1\.1 413 [\s\S]*"code":"TOO_LARGE".*larger than 64 KiB/);
    expect(await request('GET /webapi/whoami HTTP/1.1\r\nCookie: __Host-postern_session=%E0%A4%A')).toMatch(/^HTTP\/1\.1 400 [\s\S]*the __Host-postern_session cookie is malformed/);
    expect(await request('HEAD /web HTTP/1.1')).toMatch(/^HTTP\/1\.1 200 [\s\S]*strict-transport-security: max-age=31536000/i);
    expect(server.logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('offers TLS 1.2 with AEAD suites only', async () => {
    for (const ciphers of ['ECDHE-ECDSA-AES128-SHA256', 'ECDHE-ECDSA-AES256-SHA', 'ECDHE-ECDSA-AES128-CCM8']) {
      const tls = tlsConnect({ port: server.proxyPort, host: '127.0.0.1', servername: 'postern.localhost', ca, maxVersion: 'TLSv1.2', ciphers });
      const err = await new Promise<Error & { code?: string }>((resolve) => tls.once('error', resolve));
      expect(err.code, ciphers).toBe('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE');
    }
    const aead = tlsConnect({ port: server.proxyPort, host: '127.0.0.1', servername: 'postern.localhost', ca, maxVersion: 'TLSv1.2' });
    await once(aead, 'secureConnect');
    expect(aead.getCipher().name).toMatch(/GCM|CHACHA20/);
    aead.destroy();
  });

  it('keeps serving while a burst of broken connections arrives', async () => {
    const hello = await captureClientHello();
    const junk = await Promise.all(
      Array.from({ length: 150 }, async (_, i) => {
        const s = await open(server.proxyPort);
        if (i % 3 === 0) s.write(hello.subarray(0, 40));
        else if (i % 3 === 1) s.write('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n');
        else s.destroy();
        return s;
      }),
    );
    await stillServes();
    await Promise.all(junk.map((s) => (s.destroyed ? Promise.resolve(0) : closedWithin(s, 5000))));
    await stillServes();
    const metrics = await (await fetch(`http://127.0.0.1:${server.diagPort}/metrics`)).text();
    expect(metrics).toMatch(/^postern_proxy_open_connections\{protocol="handshake"\} 0$/m);
  });
});
