import { once } from 'node:events';
import { PassThrough, type Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { createAuthority, issueCertificate, loadAuthority } from '../pki/authority.js';
import { generateKeyPair, privateKeyToPem } from '../pki/crypto.js';
import { SpareConnections } from './connect-tunnel.js';

/** A TLS server that answers every CONNECT with 200 and then echoes; it records what it saw. */
async function fakeProxy(opts: { closeIdleAfterMs?: number } = {}) {
  const ca = await loadAuthority(await createAuthority('host', 'test'));
  const keys = await generateKeyPair();
  const cert = await issueCertificate(ca, { publicKey: keys.publicKey, commonName: 'proxy', ttlMs: 3_600_000, usage: 'server' });
  const seen = { connections: 0, closed: 0, requests: [] as { connection: number; head: string }[] };
  const server: Server = createServer({ cert: cert.toString('pem'), key: await privateKeyToPem(keys.privateKey) }, (socket: TLSSocket) => {
    const connection = ++seen.connections;
    socket.on('error', () => {});
    socket.once('close', () => seen.closed++);
    const idle = opts.closeIdleAfterMs === undefined ? undefined : setTimeout(() => socket.destroy(), opts.closeIdleAfterMs);
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      clearTimeout(idle);
      socket.off('data', onData);
      seen.requests.push({ connection, head });
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      socket.pipe(socket);
    };
    socket.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const endpoint = { proxy: { host: '127.0.0.1', port: (server.address() as AddressInfo).port }, insecure: true };
  return { server, seen, endpoint };
}

const until = async (check: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
};

describe('SpareConnections', () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });

  it('has connections handshaken before the first tunnel, and opens tunnels on them', async () => {
    const { server, seen, endpoint } = await fakeProxy();
    servers.push(server);
    const spares = new SpareConnections(endpoint, { size: 2 });
    await until(() => seen.connections === 2, 'two spares');
    const tunnel = await spares.connectRoute('db.example.com:5432');
    // The tunnel went over a connection that was there before it was asked for.
    expect(seen.requests).toEqual([{ connection: 1, head: 'CONNECT db.example.com:5432 HTTP/1.1\r\nHost: db.example.com:5432\r\n\r\n' }]);
    tunnel.resume(); // handed over paused, for the relay to start it
    tunnel.write('ping');
    const [echo] = await once(tunnel, 'data');
    expect(String(echo)).toBe('ping');
    tunnel.destroy();
    // The taken spare is replaced once no more tunnels are being opened.
    await until(() => seen.connections === 3, 'a replacement spare');
    spares.close();
  });

  it('sends a bearer token with the CONNECT, not on the connection', async () => {
    const { server, seen, endpoint } = await fakeProxy();
    servers.push(server);
    const spares = new SpareConnections(endpoint);
    (await spares.connectRoute('db.example.com:5432', 'tok3n')).destroy();
    expect(seen.requests[0]!.head).toContain('Proxy-Authorization: Bearer tok3n\r\n');
    spares.close();
  });

  it('renews spares before the proxy would drop them for sending nothing', async () => {
    const { server, seen, endpoint } = await fakeProxy();
    servers.push(server);
    const spares = new SpareConnections(endpoint, { size: 1, renewAfterMs: 100 });
    await until(() => seen.connections >= 3 && seen.closed >= 2, 'renewals');
    spares.close();
    await until(() => seen.closed === seen.connections, 'every spare closed');
  });

  it('sends tunnels to the overflow while no spare is ready, and refills only once tunnels stop coming', async () => {
    const { server, seen, endpoint } = await fakeProxy();
    servers.push(server);
    const overflowed: string[] = [];
    const overflow = async (authority: string) => {
      overflowed.push(authority);
      return new PassThrough();
    };
    const spares = new SpareConnections(endpoint, { size: 1, overflow });
    await until(() => seen.connections === 1, 'the spare');
    await new Promise((r) => setTimeout(r, 20)); // its handshake finished on this side too
    const tunnels = [await spares.connectRoute('a.example.com:1'), await spares.connectRoute('b.example.com:2'), await spares.connectRoute('c.example.com:3')];
    expect(seen.requests.map((r) => r.head.split('\r\n')[0])).toEqual(['CONNECT a.example.com:1 HTTP/1.1']);
    expect(overflowed).toEqual(['b.example.com:2', 'c.example.com:3']);
    // No handshake while tunnels were being opened one after another; one once they stopped.
    expect(seen.connections).toBe(1);
    await until(() => seen.connections === 2, 'the refill');
    for (const t of tunnels) t.destroy();
    spares.close();
  });

  it('refills within half a second even while tunnels keep coming', async () => {
    const { server, seen, endpoint } = await fakeProxy();
    servers.push(server);
    const spares = new SpareConnections(endpoint, { size: 1, overflow: async () => new PassThrough() });
    await until(() => seen.connections === 1, 'the spare');
    await new Promise((r) => setTimeout(r, 20));
    const tunnels: Duplex[] = [];
    // A tunnel every 20 ms for a second: never 50 ms of quiet.
    for (let i = 0; i < 50 && seen.connections < 2; i++) {
      tunnels.push(await spares.connectRoute('db.example.com:5432'));
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(seen.connections).toBe(2);
    for (const t of tunnels) t.destroy();
    spares.close();
  });

  it('never uses a spare the proxy has closed', async () => {
    const { server, seen, endpoint } = await fakeProxy({ closeIdleAfterMs: 20 });
    servers.push(server);
    const spares = new SpareConnections(endpoint, { size: 1 });
    await until(() => seen.closed >= 1, 'the proxy to close the spare');
    const tunnel = await spares.connectRoute('db.example.com:5432');
    expect(seen.requests).toHaveLength(1);
    expect(seen.requests[0]!.connection).toBeGreaterThan(1);
    tunnel.destroy();
    spares.close();
  });
});
