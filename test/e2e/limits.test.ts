import { once } from 'node:events';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, type Person } from '../helpers/cluster.js';
import { tempDir } from '../helpers/postern.js';

const PASSWORD = 'correct horse battery staple';
/** A quarter of max_connections: the default limit per address. */
const MAX_CONNECTIONS = 40;
const PER_ADDRESS = MAX_CONNECTIONS / 4;

describe('connection limits: one client cannot hold every connection', () => {
  let cluster: TestCluster;
  let ca: string;
  let alice: Person;
  const open = new Set<TLSSocket | ClientHttp2Session>();

  beforeAll(async () => {
    const config = join(tempDir(), 'postern.yaml');
    writeFileSync(config, `auth:\n  second_factor: off\nproxy:\n  max_connections: ${MAX_CONNECTIONS}\n  unauthenticated_idle_timeout: 1s\n`);
    cluster = await TestCluster.start(['--config', config]);
    ca = (await cluster.ctl(['auth', 'export'])).stdout;
    await cluster.addUser('alice', PASSWORD);
    alice = cluster.person();
    expect((await alice.login('alice', PASSWORD, '')).code).toBe(0);
  });
  afterEach(() => {
    for (const s of open) s.destroy();
    open.clear();
  });
  afterAll(() => cluster?.stop());

  /** A TLS connection from `localAddress` (any of 127/8 is this machine) that then sends nothing. */
  async function idle(localAddress: string, extra: ConnectionOptions = {}): Promise<TLSSocket> {
    const socket = tlsConnect({ port: cluster.server.proxyPort, host: '127.0.0.1', localAddress, servername: 'postern.localhost', ca, ALPNProtocols: ['h2'], ...extra } as ConnectionOptions);
    socket.on('error', () => {});
    open.add(socket);
    // Not once(): it rejects on the reset a refused connection gets.
    await new Promise((resolve) => {
      socket.once('secureConnect', resolve);
      socket.once('close', resolve);
    });
    return socket;
  }

  /** How many of `sockets` are still open a moment after their handshakes (the server refuses some only after it). */
  async function stillOpen(sockets: TLSSocket[]): Promise<number> {
    await new Promise((r) => setTimeout(r, 300));
    return sockets.filter((s) => !s.destroyed && !s.closed).length;
  }

  const manyIdle = async (n: number, localAddress: string) => stillOpen(await Promise.all(Array.from({ length: n }, () => idle(localAddress))));

  function h2(localAddress = '127.0.0.1'): ClientHttp2Session {
    const session = http2Connect(`https://postern.localhost:${cluster.server.proxyPort}`, {
      createConnection: () => tlsConnect({ port: cluster.server.proxyPort, host: '127.0.0.1', localAddress, servername: 'postern.localhost', ca, ALPNProtocols: ['h2'] } as ConnectionOptions),
    });
    session.on('error', () => {});
    open.add(session);
    return session;
  }

  async function request(session: ClientHttp2Session, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
    const stream = session.request(headers);
    stream.end(body);
    const [response] = (await once(stream, 'response')) as [Record<string, unknown>];
    let text = '';
    for await (const chunk of stream) text += String(chunk);
    return { status: Number(response[':status']), headers: response, text };
  }

  const ping = async (localAddress = '127.0.0.1') => (await request(h2(localAddress), { ':path': '/webapi/ping' })).status;

  function certificate(): { cert: string; key: string } {
    const profiles = join(alice.home, 'profiles');
    const dir = join(profiles, readdirSync(profiles)[0]!);
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  }

  it('refuses idle connections over the limit from one address, and everyone else is still served', async () => {
    expect(await manyIdle(MAX_CONNECTIONS, '127.0.0.2')).toBe(PER_ADDRESS);
    expect(await ping('127.0.0.1')).toBe(200);
    await cluster.server.waitForLog((l) => l.reason === 'address_limit' && /max_connections_per_ip/.test(String(l.msg)));
  });

  it('does not count connections that present a client certificate, and still lets them in when the rest is full', async () => {
    const withCertificate: TLSSocket[] = [];
    for (let i = 0; i < PER_ADDRESS + 5; i++) withCertificate.push(await idle('127.0.0.3', certificate()));
    expect(await stillOpen(withCertificate)).toBe(PER_ADDRESS + 5);
    expect(await manyIdle(PER_ADDRESS + 1, '127.0.0.3')).toBe(PER_ADDRESS);
    expect(await stillOpen([await idle('127.0.0.3', certificate())])).toBe(1);
  });

  it('limits device codes, which anyone may ask for, per address', async () => {
    const ask = async (session: ClientHttp2Session) => request(session, { ':path': '/webapi/device/code', ':method': 'POST' });
    const flood = h2('127.0.0.4');
    const answers = [];
    for (let i = 0; i < 30; i++) answers.push(await ask(flood));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(10);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(20);
    expect(refused[0]!.text).toMatch(/RATE_LIMITED.*too many device logins from your address; try again in \d+ s/);
    expect((await ask(h2('127.0.0.5'))).status).toBe(200);
  });

  it('closes a quiet connection nobody signed in on, and keeps a signed-in one', async () => {
    const anonymous = h2();
    expect(await request(anonymous, { ':path': '/webapi/ping' })).toMatchObject({ status: 200 });
    const signedIn = h2();
    const login = await request(signedIn, { ':path': '/webapi/sessions', ':method': 'POST', 'content-type': 'application/json', origin: `https://postern.localhost:${cluster.server.proxyPort}` }, JSON.stringify({ user: 'alice', password: PASSWORD }));
    expect(login.status).toBe(200);
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    expect((await request(signedIn, { ':path': '/webapi/whoami', cookie })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2500));
    expect(anonymous.closed || anonymous.destroyed).toBe(true);
    expect(signedIn.closed || signedIn.destroyed).toBe(false);
  });
});
