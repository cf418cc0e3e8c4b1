import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { haveProgram } from '../../test/helpers/programs.js';
import { errorResponse, MAX_STARTUP_LENGTH, parseStartupPacket, sslRequest, startupMessage, type StartupRead } from './postgres.js';

/** Reads startup packets from a socket the way a handler would, answering each with `answer`. */
async function conversation(socket: Socket, answer: (read: StartupRead & { status: 'ok' }) => Buffer | undefined): Promise<StartupRead[]> {
  const reads: StartupRead[] = [];
  let buffered = Buffer.alloc(0);
  for await (const chunk of socket as AsyncIterable<Buffer>) {
    buffered = Buffer.concat([buffered, chunk]);
    for (let read = parseStartupPacket(buffered); read.status !== 'incomplete'; read = parseStartupPacket(buffered)) {
      reads.push(read);
      if (read.status === 'invalid') return reads;
      buffered = buffered.subarray(read.length);
      const reply = answer(read);
      if (!reply) return reads;
      socket.write(reply);
    }
  }
  return reads;
}

/** `packet` with its length field set to its length. */
function withLength(packet: Buffer): Buffer {
  const out = Buffer.from(packet);
  out.writeUInt32BE(out.length, 0);
  return out;
}

describe('PostgreSQL startup packets', () => {
  it.runIf(haveProgram('psql', ['--version']))('reads what a real psql sends, and psql prints the ErrorResponse it gets back', async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const seen = once(server, 'connection').then(([socket]) =>
      conversation(socket as Socket, ({ packet }) =>
        packet.type === 'ssl' ? Buffer.from('N') : errorResponse({ code: '28000', message: 'access to database "orders" as alice is refused', detail: 'role dev-access allows db_users [reader]', hint: 'ask for a role that allows it' }),
      ),
    );
    const psql = spawn('psql', [`host=127.0.0.1 port=${port} user=alice dbname=orders sslmode=prefer gssencmode=disable application_name=probe`, '-c', 'select 1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    psql.stderr.on('data', (d: Buffer) => (stderr += d));
    const [code] = (await once(psql, 'exit')) as [number];
    const reads = await seen;
    server.close();
    expect(reads.map((r) => r.status === 'ok' && r.packet.type)).toEqual(['ssl', 'startup']);
    expect(reads[1]).toMatchObject({ status: 'ok', packet: { type: 'startup', version: '3.0', user: 'alice', database: 'orders', parameters: expect.arrayContaining([['application_name', 'probe']]) } });
    expect(code).toBe(2);
    expect(stderr).toMatch(/FATAL: {2}access to database "orders" as alice is refused\nDETAIL: {2}role dev-access allows db_users \[reader\]\nHINT: {2}ask for a role that allows it/);
  });

  it('reads SSL, GSSENC and cancel requests, and startup messages of protocol 3.0 and 3.2', () => {
    expect(parseStartupPacket(sslRequest())).toEqual({ status: 'ok', packet: { type: 'ssl' }, length: 8 });
    const gss = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]);
    expect(parseStartupPacket(gss)).toMatchObject({ status: 'ok', packet: { type: 'gssenc' } });
    const cancel = Buffer.from([0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0x30, 0x39, 1, 2, 3, 4]);
    expect(parseStartupPacket(cancel)).toEqual({ status: 'ok', packet: { type: 'cancel', pid: 12345, key: Buffer.from([1, 2, 3, 4]) }, length: 16 });
    const v32 = startupMessage([['user', 'bob']], 2);
    expect(parseStartupPacket(Buffer.concat([v32, Buffer.from('rest')]))).toEqual({
      status: 'ok',
      packet: { type: 'startup', version: '3.2', user: 'bob', database: 'bob', parameters: [['user', 'bob']] },
      length: v32.length,
    });
  });

  it('waits for the whole packet, and refuses malformed ones with a reason', () => {
    const full = startupMessage([['user', 'alice'], ['database', 'orders']]);
    for (let i = 0; i < full.length; i++) expect(parseStartupPacket(full.subarray(0, i)).status).toBe('incomplete');
    const cases: [Buffer, RegExp][] = [
      [Buffer.from([0, 0, 0, 4, 0, 3, 0, 0]), /of 4 bytes/],
      [Buffer.from([0, 0, 0x27, 0x11, 0, 3, 0, 0]), new RegExp(`PostgreSQL allows 8 to ${MAX_STARTUP_LENGTH}`)],
      [Buffer.from([0, 0, 0, 9, 0x04, 0xd2, 0x16, 0x2f, 0]), /SSLRequest or GSSENCRequest is 8 bytes/],
      [Buffer.from([0, 0, 0, 8, 0, 2, 0, 0]), /protocol 2\.0; Postern speaks PostgreSQL protocol 3\.0 and 3\.2/],
      [Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x99]), /unknown request code/],
      [Buffer.from([0, 0, 0, 12, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1]), /CancelRequest holds a process ID and a key/],
      [startupMessage([['database', 'orders']]), /names no user/],
      [withLength(startupMessage([['user', 'a']]).subarray(0, -1)), /does not end with a zero byte/],
      [withLength(Buffer.concat([startupMessage([['user', 'a']]).subarray(0, -1), Buffer.from('x\0')])), /has no value/],
      [withLength(Buffer.concat([startupMessage([['user', 'a']]), Buffer.from('x')])), /bytes after its end/],
    ];
    for (const [packet, reason] of cases) {
      const read = parseStartupPacket(packet);
      expect(read.status, reason.source).toBe('invalid');
      expect(read.status === 'invalid' && read.reason).toMatch(reason);
    }
  });
});
