import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeProxyV2 } from '../../src/proxy/proxy-protocol.js';
import { eventually } from '../harness/eventually.js';
import { HAProxy } from '../harness/haproxy.js';
import { Nginx } from '../harness/nginx.js';
import { haveProgram } from '../helpers/programs.js';
import { PosternProcess, postern, run } from '../helpers/postern.js';

const tools = haveProgram('nginx', ['-v']) && haveProgram('haproxy', ['-v']) && haveProgram('curl', ['--version']);

/** GET /webapi/ping over TLS on an already-connected socket (after whatever bytes the test sent). */
async function pingOver(socket: Socket, ca: string): Promise<{ client_addr: string }> {
  const tls = tlsConnect({ socket, servername: 'postern.localhost', ca, ALPNProtocols: ['http/1.1'] });
  await once(tls, 'secureConnect');
  tls.end('GET /webapi/ping HTTP/1.1\r\nHost: postern.localhost\r\nConnection: close\r\n\r\n');
  let text = '';
  for await (const chunk of tls) text += String(chunk);
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { client_addr: string };
}

function tcp(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  return once(s, 'connect').then(() => s);
}

describe.runIf(tools)('behind an L4 edge with PROXY protocol', () => {
  let server: PosternProcess;
  let nginx: Nginx;
  let ca: string;
  let caFile: string;

  beforeAll(async () => {
    server = await PosternProcess.start({ args: ['--use-proxy-protocol'], diag: false });
    nginx = await Nginx.stream(() => `proxy_pass 127.0.0.1:${server.proxyPort};\n    proxy_protocol on;\n    proxy_timeout 1h;`);
    const exported = await postern(['ctl', 'auth', 'export', '--data-dir', server.dataDir]);
    ca = exported.stdout;
    caFile = join(nginx.dir, 'ca.pem');
    writeFileSync(caFile, ca);
  });
  afterAll(async () => {
    await nginx?.stop();
    await server?.stop();
  });

  it('takes the client address from nginx\'s PROXY v1 header, not the TCP peer', async () => {
    // curl binds 127.0.0.7; nginx connects to Postern from 127.0.0.1 and reports 127.0.0.7 in the header.
    const r = await run('curl', ['-sS', '--interface', '127.0.0.7', '--cacert', caFile, `https://postern.localhost:${nginx.port}/webapi/ping`]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ client_addr: '127.0.0.7', cluster_name: 'postern.localhost' });
    // nginx writes a stream session's line when the session closes, which can be after curl exits.
    const entry = /127\.0\.0\.7 -> 127\.0\.0\.1:\d+ \[200\] bytes_sent=\d{3,} bytes_received=\d{3,}/;
    const accessLog = join(nginx.dir, 'access.log');
    const read = () => (existsSync(accessLog) ? readFileSync(accessLog, 'utf8') : '');
    await eventually(() => (entry.test(read()) ? true : undefined), () => `nginx's access log has no matching line:\n${read()}`);
  });

  it('takes the client address from HAProxy\'s PROXY v2 header', async () => {
    const haproxy = await HAProxy.tcp(server.proxyPort, 'send-proxy-v2');
    try {
      const r = await run('curl', ['-sS', '--interface', '127.0.0.9', '--cacert', caFile, `https://postern.localhost:${haproxy.port}/webapi/ping`]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ client_addr: '127.0.0.9' });
    } finally {
      await haproxy.stop();
    }
  });

  it('takes IPv4 and IPv6 client addresses from PROXY v2 headers', async () => {
    const socket = await tcp(server.proxyPort);
    socket.write(encodeProxyV2({ address: '203.0.113.9', port: 40123 }, { address: '127.0.0.1', port: server.proxyPort }));
    expect(await pingOver(socket, ca)).toMatchObject({ client_addr: '203.0.113.9' });
    const v6 = await tcp(server.proxyPort);
    v6.write(encodeProxyV2({ address: '2001:db8::42', port: 1 }, { address: '::1', port: 2 }));
    expect(await pingOver(v6, ca)).toMatchObject({ client_addr: '2001:db8::42' });
  });

  it('refuses a direct connection without a header, logging why', async () => {
    const r = await run('curl', ['-sS', '--cacert', caFile, `https://postern.localhost:${server.proxyPort}/webapi/ping`]);
    expect(r.code).not.toBe(0);
    const line = await server.waitForLog((l) => l.reason === 'proxy_header_missing');
    expect(line.msg).toMatch(/did not start with a PROXY v1\/v2 header; connect through the L4 load balancer/);
  });

  it('refuses oversized PROXY v1 and v2 headers and stays up', async () => {
    const socket = await tcp(server.proxyPort);
    const header = encodeProxyV2({ address: '1.2.3.4', port: 1 }, { address: '5.6.7.8', port: 2 });
    header.writeUInt16BE(60_000, 14);
    socket.write(header);
    await once(socket, 'close');
    await server.waitForLog((l) => l.reason === 'proxy_header_invalid' && /exceeds/.test(String(l.msg)));
    const v1 = await tcp(server.proxyPort);
    v1.write(`PROXY TCP4 ${'9'.repeat(200)}`);
    await once(v1, 'close');
    await server.waitForLog((l) => l.reason === 'proxy_header_invalid' && /longer than 107 bytes/.test(String(l.msg)));
    const r = await run('curl', ['-sS', '--cacert', caFile, `https://postern.localhost:${nginx.port}/webapi/ping`]);
    expect(r.code, r.stderr).toBe(0);
  });
});

describe.runIf(tools)('a PROXY header the server does not expect', () => {
  it('is refused with a hint to turn use_proxy_protocol on', async () => {
    const server = await PosternProcess.start({ diag: false });
    const nginx = await Nginx.stream(() => `proxy_pass 127.0.0.1:${server.proxyPort};\n    proxy_protocol on;`);
    try {
      const r = await run('curl', ['-sS', '-k', `https://postern.localhost:${nginx.port}/webapi/ping`]);
      expect(r.code).not.toBe(0);
      const line = await server.waitForLog((l) => l.reason === 'not_tls');
      expect(line.msg).toMatch(/If an L4 load balancer in front sends PROXY protocol headers, set proxy\.use_proxy_protocol: true/);
    } finally {
      await nginx.stop();
      await server.stop();
    }
  });
});
