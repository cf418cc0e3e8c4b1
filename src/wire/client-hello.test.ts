import { once } from 'node:events';
import { createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { parseClientHello } from './client-hello.js';

/** The first bytes a real Node TLS client sends, caught by a plain TCP server. */
async function realClientHello(opts: { servername?: string; ALPNProtocols?: string[] }): Promise<Buffer> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const got = new Promise<Buffer>((resolve) => server.once('connection', (s) => s.once('data', (d: Buffer) => { resolve(d); s.destroy(); })));
  const client = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts });
  client.on('error', () => {});
  const hello = await got;
  client.destroy();
  server.close();
  return hello;
}

describe('parseClientHello', () => {
  it('reads the server name and ALPN names of a real ClientHello', async () => {
    const hello = await realClientHello({ servername: 'Acme.Example.test', ALPNProtocols: ['acme-tls/1'] });
    expect(parseClientHello(hello)).toEqual({ servername: 'acme.example.test', alpn: ['acme-tls/1'] });
    expect(parseClientHello(await realClientHello({ ALPNProtocols: ['h2', 'http/1.1'] }))).toEqual({ alpn: ['h2', 'http/1.1'] });
  });

  it('asks for more bytes until the record is complete, and calls other bytes invalid', async () => {
    const hello = await realClientHello({ servername: 'a.test', ALPNProtocols: ['h2'] });
    for (const cut of [0, 4, 5, 40, hello.length - 1]) expect(parseClientHello(hello.subarray(0, cut))).toBe('more');
    expect(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toBe('invalid');
    expect(parseClientHello(Buffer.from([22, 3, 1, 0, 4, 1, 0, 0, 200]))).toBe('invalid'); // a length past the record
    const truncated = Buffer.from(hello);
    truncated.writeUInt16BE(60, 3); // the record ends inside the extensions
    expect(parseClientHello(truncated.subarray(0, 65))).toBe('invalid');
  });
});
