import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { haveProgram } from '../../test/helpers/programs.js';
import { CLIENT, errPacket, handshakeResponse, MAX_HANDSHAKE_RESPONSE, packet, parseAuthSwitch, parseGreeting, parseHandshakeResponse, readPacket, serverGreeting, sslRequest, type HandshakeRead } from './mysql.js';

const BASE = CLIENT.LONG_PASSWORD | CLIENT.CONNECT_WITH_DB | CLIENT.PROTOCOL_41 | CLIENT.TRANSACTIONS | CLIENT.SECURE_CONNECTION | CLIENT.MULTI_RESULTS | CLIENT.PLUGIN_AUTH | CLIENT.CONNECT_ATTRS | CLIENT.PLUGIN_AUTH_LENENC_CLIENT_DATA;

/** Greets a client, reads its first answer, and ends the connection with `refusal` (an ERR packet). */
async function greetAndRefuse(socket: Socket, capabilities: number): Promise<HandshakeRead> {
  socket.write(serverGreeting({ serverVersion: '10.11.0-postern', connectionId: 7, scramble: randomBytes(20), capabilities, authPlugin: 'mysql_native_password' }));
  let buffered = Buffer.alloc(0);
  for await (const chunk of socket as AsyncIterable<Buffer>) {
    buffered = Buffer.concat([buffered, chunk]);
    const read = readPacket(buffered);
    if (read.status === 'incomplete') continue;
    if (read.status === 'invalid') throw new Error(read.reason);
    const answer = parseHandshakeResponse(read.payload);
    socket.end(errPacket(read.sequence + 1, { code: 1045, sqlState: '28000', message: 'access to database "orders" as alice is refused: role dev-access allows db_users [reader]' }));
    return answer;
  }
  throw new Error('the client closed before answering');
}

/** Runs the mariadb client against a one-shot server; resolves with what the server read and what the client printed. */
async function mariadbAgainst(capabilities: number, args: string[]): Promise<{ read: HandshakeRead; code: number; stderr: string }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const read = once(server, 'connection').then(([socket]) => greetAndRefuse(socket as Socket, capabilities));
  const client = spawn('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', String(port), '-u', 'alice', ...args, '-e', 'select 1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  client.stderr.on('data', (d: Buffer) => (stderr += d));
  const [code] = (await once(client, 'exit')) as [number];
  server.close();
  return { read: await read, code, stderr };
}

describe('MySQL connection phase', () => {
  it.runIf(haveProgram('mariadb', ['--version']))('reads what a real mariadb client sends, and the client prints the ERR packet it gets back', async () => {
    const { read, code, stderr } = await mariadbAgainst(BASE, ['--skip-ssl', 'orders']);
    expect(read).toMatchObject({ status: 'ok', response: { type: 'response', user: 'alice', database: 'orders', authPlugin: 'mysql_native_password', authResponse: Buffer.alloc(0) } });
    expect(read.status === 'ok' && read.response.type === 'response' && read.response.attributes).toEqual(expect.arrayContaining([['_client_name', 'libmariadb'], ['_server_host', '127.0.0.1']]));
    expect(code).toBe(1);
    expect(stderr).toContain('ERROR 1045 (28000): access to database "orders" as alice is refused: role dev-access allows db_users [reader]');
  });

  it.runIf(haveProgram('mariadb', ['--version']))('reads the SSL request of a client that asks for TLS', async () => {
    const { read } = await mariadbAgainst(BASE | CLIENT.SSL, ['--ssl', '--ssl-verify-server-cert=off']);
    expect(read).toMatchObject({ status: 'ok', response: { type: 'ssl' } });
  });

  it('waits for whole packets, refuses oversized ones, and refuses malformed responses with a reason', () => {
    const response = Buffer.concat([Buffer.alloc(32), Buffer.from('bob\0'), Buffer.from([0])]);
    response.writeUInt32LE(CLIENT.PROTOCOL_41 | CLIENT.SECURE_CONNECTION, 0);
    const whole = packet(1, response);
    for (let i = 0; i < whole.length; i++) expect(readPacket(whole.subarray(0, i)).status).toBe('incomplete');
    const read = readPacket(Buffer.concat([whole, Buffer.from('next')]));
    expect(read).toMatchObject({ status: 'ok', sequence: 1, length: whole.length });
    expect(read.status === 'ok' && parseHandshakeResponse(read.payload)).toEqual({ status: 'ok', response: { type: 'response', capabilities: CLIENT.PROTOCOL_41 | CLIENT.SECURE_CONNECTION, maxPacketSize: 0, charset: 0, user: 'bob', authResponse: Buffer.alloc(0), attributes: [] } });
    expect(readPacket(packet(1, Buffer.alloc(MAX_HANDSHAKE_RESPONSE + 1)))).toMatchObject({ status: 'invalid', reason: expect.stringMatching(/at most 16384/) });

    const fixed = (capabilities: number, rest: Buffer) => {
      const out = Buffer.concat([Buffer.alloc(32), rest]);
      out.writeUInt32LE(capabilities, 0);
      return out;
    };
    const cases: [Buffer, RegExp][] = [
      [Buffer.alloc(10), /of 10 bytes/],
      [fixed(0, Buffer.from('bob\0\0')), /protocol 4\.1/],
      [fixed(CLIENT.PROTOCOL_41, Buffer.alloc(0)), /no user/],
      [fixed(CLIENT.PROTOCOL_41, Buffer.from('bob')), /user name does not end/],
      [fixed(CLIENT.PROTOCOL_41 | CLIENT.SECURE_CONNECTION, Buffer.from('bob\0\x14ab')), /auth response runs past/],
      [fixed(CLIENT.PROTOCOL_41 | CLIENT.PLUGIN_AUTH_LENENC_CLIENT_DATA, Buffer.from('bob\0\xfb')), /auth response runs past/],
      [fixed(CLIENT.PROTOCOL_41 | CLIENT.SECURE_CONNECTION | CLIENT.CONNECT_WITH_DB, Buffer.from('bob\0\0orders')), /database name does not end/],
      [fixed(CLIENT.PROTOCOL_41 | CLIENT.SECURE_CONNECTION | CLIENT.CONNECT_ATTRS, Buffer.from('bob\0\0\x05\x01a')), /attributes run past/],
    ];
    for (const [payload, reason] of cases) expect(parseHandshakeResponse(payload), reason.source).toMatchObject({ status: 'invalid', reason: expect.stringMatching(reason) });
  });

  it('reads a greeting as it writes one, and an ERR packet in its place as the reason', () => {
    const scramble = randomBytes(20);
    const greeting = serverGreeting({ serverVersion: '10.11.6-MariaDB', connectionId: 0x8000_0001, scramble, capabilities: BASE | CLIENT.SSL, authPlugin: 'mysql_native_password' });
    const read = readPacket(greeting);
    expect(read.status === 'ok' && parseGreeting(read.payload)).toEqual({
      status: 'ok',
      greeting: { serverVersion: '10.11.6-MariaDB', connectionId: 0x8000_0001, capabilities: BASE | CLIENT.SSL, authPlugin: 'mysql_native_password', scramble },
    });
    expect(parseAuthSwitch(Buffer.concat([Buffer.from([0xfe]), Buffer.from('caching_sha2_password\0'), scramble, Buffer.from([0])]))).toEqual({ plugin: 'caching_sha2_password', scramble });
    const refused = errPacket(0, { code: 1130, sqlState: 'HY000', message: "Host '10.0.0.9' is not allowed to connect" });
    expect(parseGreeting(refused.subarray(4))).toEqual({ status: 'invalid', reason: "the server refused the connection: Host '10.0.0.9' is not allowed to connect" });
    expect(parseGreeting(Buffer.from([10, 0x35, 0x2e]))).toEqual({ status: 'invalid', reason: 'a greeting cut short' });
  });

  it('writes an SSL request and a password-less handshake response that it reads back', () => {
    const fixed = { capabilities: BASE, maxPacketSize: 16 << 20, charset: 45 };
    const ssl = readPacket(sslRequest(1, fixed));
    expect(ssl.status === 'ok' && [ssl.sequence, parseHandshakeResponse(ssl.payload)]).toEqual([1, { status: 'ok', response: { type: 'ssl', ...fixed, capabilities: BASE | CLIENT.SSL } }]);
    const response = readPacket(handshakeResponse(2, { ...fixed, user: 'alice', database: 'orders', authPlugin: 'mysql_native_password' }));
    expect(response.status === 'ok' && parseHandshakeResponse(response.payload)).toMatchObject({
      status: 'ok',
      response: { type: 'response', ...fixed, user: 'alice', database: 'orders', authPlugin: 'mysql_native_password', authResponse: Buffer.alloc(0) },
    });
    // A password proof (a password_file) reads back the same with either encoding of its length.
    const proof = randomBytes(20);
    for (const capabilities of [BASE, BASE & ~CLIENT.PLUGIN_AUTH_LENENC_CLIENT_DATA]) {
      const withProof = readPacket(handshakeResponse(2, { ...fixed, capabilities, user: 'app', authPlugin: 'mysql_native_password', authResponse: proof }));
      expect(withProof.status === 'ok' && parseHandshakeResponse(withProof.payload)).toMatchObject({ status: 'ok', response: { user: 'app', authResponse: proof } });
    }
  });
});
