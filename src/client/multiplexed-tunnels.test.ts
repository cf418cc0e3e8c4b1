import { once } from 'node:events';
import { createSecureServer, type Http2SecureServer, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createAuthority, issueCertificate, loadAuthority } from '../pki/authority.js';
import { generateKeyPair, privateKeyToPem } from '../pki/crypto.js';
import { freePort } from '../../test/harness/ports.js';
import { ConnectRefused } from './connect-tunnel.js';
import { MultiplexedTunnels } from './multiplexed-tunnels.js';

/**
 * An HTTP/2 server that answers CONNECT as the proxy does: 403 with a typed error for
 * `denied.example.com`, else 200 and an echo. It records its connections and requests, and can
 * close each connection after its first tunnel (as the proxy does to idle ones).
 */
async function fakeProxy(opts: { closeAfterFirstTunnel?: boolean } = {}) {
  const ca = await loadAuthority(await createAuthority('host', 'test'));
  const keys = await generateKeyPair();
  const cert = await issueCertificate(ca, { publicKey: keys.publicKey, commonName: 'proxy', ttlMs: 3_600_000, usage: 'server' });
  const seen = { sessions: [] as Http2Session[], requests: [] as { session: number; headers: IncomingHttpHeaders }[] };
  const server: Http2SecureServer = createSecureServer({ cert: cert.toString('pem'), key: await privateKeyToPem(keys.privateKey) });
  server.on('session', (session: Http2Session) => seen.sessions.push(session));
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    seen.requests.push({ session: seen.sessions.indexOf(stream.session!) + 1, headers });
    if (headers[':authority'] === 'denied.example.com:22') {
      stream.respond({ ':status': 403, 'content-type': 'application/json' });
      return void stream.end(JSON.stringify({ error: { code: 'ACCESS_DENIED', message: 'alice may not reach denied.example.com:22: no allow rule matched' } }));
    }
    stream.respond({ ':status': 200 });
    stream.pipe(stream);
    if (opts.closeAfterFirstTunnel) stream.session!.close();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const endpoint = { proxy: { host: '127.0.0.1', port: (server.address() as AddressInfo).port }, insecure: true };
  return { server, seen, endpoint };
}

async function echoes(tunnel: NodeJS.ReadWriteStream & { resume(): void; destroy(): void }, text: string): Promise<string> {
  tunnel.resume(); // handed over paused, for the relay to start
  tunnel.write(text);
  const [echo] = (await once(tunnel as never, 'data')) as [Buffer];
  tunnel.destroy();
  return String(echo);
}

describe('MultiplexedTunnels', () => {
  const servers: Http2SecureServer[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });

  it('opens every tunnel as a stream of one connection, with the bearer token on each CONNECT', async () => {
    const { server, seen, endpoint } = await fakeProxy();
    servers.push(server);
    const tunnels = new MultiplexedTunnels(endpoint);
    const opened = await Promise.all(['a', 'b', 'c'].map((host) => tunnels.connectRoute(`${host}.example.com:5432`, 'tok3n')));
    expect(await Promise.all(opened.map((t, i) => echoes(t, `ping ${i}`)))).toEqual(['ping 0', 'ping 1', 'ping 2']);
    expect(seen.sessions).toHaveLength(1);
    expect(seen.requests.map((r) => [r.session, r.headers[':method'], r.headers[':authority'], r.headers['proxy-authorization']])).toEqual(
      ['a', 'b', 'c'].map((host) => [1, 'CONNECT', `${host}.example.com:5432`, 'Bearer tok3n']),
    );
    tunnels.close();
  });

  it("rejects with the proxy's status and reason when it refuses", async () => {
    const { server, endpoint } = await fakeProxy();
    servers.push(server);
    const tunnels = new MultiplexedTunnels(endpoint);
    const refused = await tunnels.connectRoute('denied.example.com:22').catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ConnectRefused);
    expect(refused).toMatchObject({ httpStatus: 403, code: 'ACCESS_DENIED', message: expect.stringContaining('no allow rule matched') });
    // The refusal ends that stream only: the connection still carries tunnels.
    expect(await echoes(await tunnels.connectRoute('db.example.com:5432'), 'still here')).toBe('still here');
    tunnels.close();
  });

  it('makes a new connection when the proxy closes the one it used', async () => {
    const { server, seen, endpoint } = await fakeProxy({ closeAfterFirstTunnel: true });
    servers.push(server);
    const tunnels = new MultiplexedTunnels(endpoint);
    expect(await echoes(await tunnels.connectRoute('db.example.com:5432'), 'first')).toBe('first');
    expect(await echoes(await tunnels.connectRoute('db.example.com:5432'), 'second')).toBe('second');
    expect(seen.requests.map((r) => r.session)).toEqual([1, 2]);
    tunnels.close();
  });

  it('gives up a connection that answers nothing, and makes a new one for the next tunnel', async () => {
    // A peer that takes the connection and never speaks (a dead NAT entry, a hung proxy).
    const accepted: Socket[] = [];
    const silent = createNetServer((socket) => accepted.push(socket));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const tunnels = new MultiplexedTunnels({ proxy: { host: '127.0.0.1', port: (silent.address() as AddressInfo).port }, insecure: true }, { answerTimeoutMs: 300 });
    await expect(tunnels.connectRoute('db.example.com:5432')).rejects.toMatchObject({ code: 'PROXY_UNREACHABLE', message: expect.stringContaining('did not answer the CONNECT within 0.3 s') });
    await expect(tunnels.connectRoute('db.example.com:5432')).rejects.toMatchObject({ code: 'PROXY_UNREACHABLE' });
    expect(accepted.length).toBeGreaterThanOrEqual(2);
    tunnels.close();
    for (const s of accepted) s.destroy();
    silent.close();
  });

  it('says which proxy it could not reach', async () => {
    const port = await freePort();
    const tunnels = new MultiplexedTunnels({ proxy: { host: '127.0.0.1', port }, insecure: true });
    await expect(tunnels.connectRoute('db.example.com:5432')).rejects.toMatchObject({ code: 'PROXY_UNREACHABLE', message: expect.stringContaining(`127.0.0.1:${port}`) });
    tunnels.close();
  });
});
