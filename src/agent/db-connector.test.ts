import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAuthority, issueCertificate, loadAuthority } from '../pki/authority.js';
import { generateKeyPair, privateKeyToPem } from '../pki/crypto.js';
import { AUTH_ANSWER, CLIENT, okPacket, packet, parseHandshakeResponse, readPacket, serverGreeting, type HandshakeResponse } from '../wire/mysql.js';
import { readMessage } from '../wire/read-message.js';
import { openMysql, type DbCredentials } from './db-connector.js';
import { cachingSha2Proof, mysqlNativeProof } from './password-proofs.js';

const GREETING_SCRAMBLE = Buffer.from('abcdefghijklmnopqrst');
const SWITCH_SCRAMBLE = Buffer.from('ABCDEFGHIJKLMNOPQRST');
const CAPABILITIES = CLIENT.PROTOCOL_41 | CLIENT.SSL | CLIENT.SECURE_CONNECTION | CLIENT.PLUGIN_AUTH | CLIENT.PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT.CONNECT_WITH_DB;
const hello = { user: 'app', database: 'orders', capabilities: CAPABILITIES, maxPacketSize: 1 << 24, charset: 45 };

/** What a fake server's script sees: the login's packets, read and written over TLS. */
interface Login {
  response: Extract<HandshakeResponse, { type: 'response' }>;
  read(): Promise<Buffer>;
  write(sequence: number, payload: Buffer): void;
}

let tls: { server: { key: string; cert: string }; client: DbCredentials };

/** A db CA, a server certificate for 127.0.0.1 and a client certificate, as sign-db and the proxy make them. */
beforeAll(async () => {
  const ca = await loadAuthority(await createAuthority('db', 'test'));
  const leaf = async (commonName: string, usage: 'server' | 'client') => {
    const keys = await generateKeyPair();
    const cert = await issueCertificate(ca, { publicKey: keys.publicKey, commonName, ttlMs: 3_600_000, usage, ...(usage === 'server' ? { ipAddresses: ['127.0.0.1'] } : {}) });
    return { key: await privateKeyToPem(keys.privateKey), cert: cert.toString('pem') };
  };
  const server = await leaf('db', 'server');
  const client = await leaf('app', 'client');
  tls = { server, client: { keyPem: client.key, certPem: client.cert, caPem: ca.certPem } };
});

const servers: Server[] = [];
/** A fake server's failed expectation: the client sees only a closed connection, so the test reports this. */
let scriptError: unknown;
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
  const err = scriptError;
  scriptError = undefined;
  if (err) throw err;
});

/** A MySQL server that greets with `plugin`, takes TLS, reads the handshake response, then follows `script`. */
async function fakeMysql(plugin: string, script: (login: Login) => Promise<void>): Promise<{ host: string; port: number }> {
  const server = createServer((raw: Socket) => {
    raw.on('error', () => {});
    void (async () => {
      raw.write(serverGreeting({ serverVersion: '8.0.0-fake', connectionId: 7, scramble: GREETING_SCRAMBLE, capabilities: CAPABILITIES, authPlugin: plugin }));
      await readBytes(raw, 4 + 32); // the SSL request; the TLS ClientHello may follow in the same chunk
      const secure = new TLSSocket(raw, { isServer: true, ...tls.server });
      secure.on('error', () => {});
      const read = async () => (await readMessage(secure, readPacket, 'login packet')).read.payload;
      const parsed = parseHandshakeResponse(await read());
      if (parsed.status !== 'ok' || parsed.response.type !== 'response') throw new Error('not a handshake response');
      await script({ response: parsed.response, read, write: (sequence, payload) => secure.write(packet(sequence, payload)) });
    })().catch((err: unknown) => {
      scriptError = err;
      raw.destroy();
    });
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
}

/** `n` bytes from a paused socket, leaving the rest in its buffer (where a TLSSocket made on it finds them). */
async function readBytes(socket: Socket, n: number): Promise<Buffer> {
  for (;;) {
    const bytes = socket.read(n) as Buffer | null;
    if (bytes) return bytes;
    await once(socket, 'readable');
  }
}

/** An AuthSwitchRequest to `plugin` with a new scramble and its closing zero, as servers send it. */
const switchTo = (plugin: string) => Buffer.concat([Buffer.from([AUTH_ANSWER.SWITCH]), Buffer.from(`${plugin}\0`), SWITCH_SCRAMBLE, Buffer.from([0])]);

describe('openMysql with a password', () => {
  it('proves the password for mysql_native_password with the greeting scramble', async () => {
    const target = await fakeMysql('mysql_native_password', async (login) => {
      expect(login.response).toMatchObject({ user: 'app', database: 'orders', authPlugin: 'mysql_native_password' });
      expect(login.response.authResponse).toEqual(mysqlNativeProof('secret', GREETING_SCRAMBLE));
      login.write(2, okPacket(0).subarray(4));
    });
    const { socket, answer, ok } = await openMysql(target, tls.client, hello, 'secret');
    socket.destroy();
    expect(ok).toBe(true);
    expect(answer).toEqual(okPacket(2));
  });

  it("follows a switch to caching_sha2_password: the fast path's proof with the new scramble, then the password itself when the server asks for full authentication", async () => {
    const target = await fakeMysql('mysql_native_password', async (login) => {
      login.write(2, switchTo('caching_sha2_password'));
      expect(await login.read()).toEqual(cachingSha2Proof('secret', SWITCH_SCRAMBLE));
      login.write(4, Buffer.from([AUTH_ANSWER.MORE_DATA, 0x04]));
      expect((await login.read()).toString()).toBe('secret\0');
      login.write(6, okPacket(0).subarray(4));
    });
    const { socket, ok } = await openMysql(target, tls.client, hello, 'secret');
    socket.destroy();
    expect(ok).toBe(true);
  });

  it("passes the server's refusal on to the client, and refuses plugins it cannot answer with a password", async () => {
    const refusal = Buffer.concat([Buffer.from([0xff, 0x15, 0x04]), Buffer.from("#28000Access denied for user 'app'")]);
    const wrong = await fakeMysql('caching_sha2_password', async (login) => login.write(2, refusal));
    const denied = await openMysql(wrong, tls.client, hello, 'wrong');
    denied.socket.destroy();
    expect(denied).toMatchObject({ ok: false, answer: packet(2, refusal) });
    const ed25519 = await fakeMysql('mysql_native_password', async (login) => login.write(2, switchTo('client_ed25519')));
    await expect(openMysql(ed25519, tls.client, hello, 'secret')).rejects.toThrow(/asks for the client_ed25519 authentication plugin; with a password file the agent answers mysql_native_password and caching_sha2_password/);
  });

  it('answers every plugin with nothing when there is no password: the certificate is the proof', async () => {
    const target = await fakeMysql('caching_sha2_password', async (login) => {
      expect(login.response.authResponse).toEqual(Buffer.alloc(0));
      login.write(2, switchTo('mysql_native_password'));
      expect(await login.read()).toEqual(Buffer.alloc(0));
      login.write(4, Buffer.from([AUTH_ANSWER.MORE_DATA, 0x04]));
      expect(await login.read()).toEqual(Buffer.from([0]));
      login.write(6, okPacket(0).subarray(4));
    });
    const { socket, ok } = await openMysql(target, tls.client, hello);
    socket.destroy();
    expect(ok).toBe(true);
  });
});
