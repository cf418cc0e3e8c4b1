import { describe, expect, it } from 'vitest';
import { COM, packet } from '../../wire/mysql.js';
import { MysqlCommandReader, type MysqlQuery, type MysqlStop } from './mysql-commands.js';

const command = (com: number, body: Buffer | string = '') => packet(0, Buffer.concat([Buffer.from([com]), Buffer.from(body)]));
const uint32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
/** The server's COM_STMT_PREPARE_OK for statement `id` with `params` parameters. */
const prepareOk = (id: number, params: number) => {
  const p = Buffer.alloc(12);
  p.writeUInt32LE(id, 1);
  p.writeUInt16LE(1, 5);
  p.writeUInt16LE(params, 7);
  return packet(1, p);
};
const execute = (id: number) => command(COM.STMT_EXECUTE, Buffer.concat([uint32(id), Buffer.from([0]), uint32(1)]));

/** Feeds the client's and server's bytes in turn, each cut into `chunk`-byte pieces. */
function read(turns: { client?: Buffer; server?: Buffer }[], chunk = 1 << 20, isPosternId?: (id: number) => boolean): { seen: MysqlQuery[]; stops: MysqlStop[] } {
  const seen: MysqlQuery[] = [];
  const stops: MysqlStop[] = [];
  const reader = new MysqlCommandReader((q) => seen.push(q), isPosternId);
  for (const turn of turns) {
    for (let at = 0; turn.client && at < turn.client.length; at += chunk) {
      const stop = reader.fromClient(turn.client.subarray(at, at + chunk));
      if (stop) stops.push(stop);
    }
    for (let at = 0; turn.server && at < turn.server.length; at += chunk) reader.fromServer(turn.server.subarray(at, at + chunk));
  }
  return { seen, stops };
}

describe('MysqlCommandReader', () => {
  const session = [
    { client: command(COM.QUERY, 'select @@version_comment limit 1'), server: Buffer.concat([packet(1, Buffer.from([1])), packet(2, Buffer.alloc(30)), packet(3, Buffer.from([0xfe, 0, 0, 2, 0]))]) },
    { client: command(COM.INIT_DB, 'orders') },
    { client: command(COM.STMT_PREPARE, 'SELECT * FROM t WHERE a = ? AND b = ?'), server: Buffer.concat([prepareOk(7, 2), packet(2, Buffer.alloc(20))]) },
    { client: execute(7), server: packet(1, Buffer.from([0, 0, 0, 2, 0, 0, 0])) },
    { client: execute(0xffffffff) },
    { client: command(COM.STMT_CLOSE, uint32(7)) },
    { client: execute(7) },
  ];
  const expected: MysqlQuery[] = [
    { query: 'select @@version_comment limit 1', protocol: 'query' },
    { query: 'orders', protocol: 'init_db' },
    { query: 'SELECT * FROM t WHERE a = ? AND b = ?', protocol: 'prepare' },
    { query: 'SELECT * FROM t WHERE a = ? AND b = ?', protocol: 'execute', parameters: 2 },
    { query: 'SELECT * FROM t WHERE a = ? AND b = ?', protocol: 'execute', parameters: 2 },
    { query: '(statement 7, prepared before Postern saw it)', protocol: 'execute', parameters: 0 },
  ];

  it('reports queries, schema changes, prepares, and executes with the text and parameter count of their statement', () => {
    expect(read(session).seen).toEqual(expected);
  });

  it('reads the same statements however the bytes are cut', () => {
    for (const chunk of [1, 2, 3, 5, 13]) expect(read(session, chunk).seen).toEqual(expected);
  });

  it('stops at COM_CHANGE_USER in the chunk that carries its command byte, wherever the packet is cut', () => {
    const change = command(COM.CHANGE_USER, 'root\0');
    for (const chunk of [1, 4, 5, 100]) {
      const reader = new MysqlCommandReader(() => {});
      const pieces: Buffer[] = [];
      for (let at = 0; at < change.length; at += chunk) pieces.push(change.subarray(at, at + chunk));
      const answers = pieces.map((p) => reader.fromClient(p));
      const stoppedAt = answers.findIndex(Boolean);
      // The header (4 bytes) may pass; the command byte never does.
      expect(pieces.slice(0, stoppedAt).reduce((n, p) => n + p.length, 0)).toBeLessThanOrEqual(4);
      expect((answers[stoppedAt] as { refused: string }).refused).toContain('COM_CHANGE_USER');
    }
  });

  it("stops a KILL of a connection id Postern's greeting made up (Ctrl-C), for the proxy to carry out; other KILLs go on", () => {
    const posternId = (id: number) => id === 2147483650;
    const kill = (text: string) => read([{ client: command(COM.QUERY, text) }], 3, posternId).stops;
    expect(kill('KILL QUERY 2147483650')).toEqual([{ kill: { connectionId: 2147483650, query: true } }]);
    expect(kill('kill 2147483650;')).toEqual([{ kill: { connectionId: 2147483650, query: false } }]);
    expect(kill('KILL CONNECTION 2147483650')).toEqual([{ kill: { connectionId: 2147483650, query: false } }]);
    expect(kill('KILL HARD QUERY 2147483650')).toEqual([{ kill: { connectionId: 2147483650, query: true } }]);
    expect(kill('KILL QUERY 17')).toEqual([]); // the server's own id: the server decides
    expect(kill('select 1 /* KILL QUERY 2147483650 */')).toEqual([]);
    // It is audited like any statement.
    expect(read([{ client: command(COM.QUERY, 'KILL QUERY 2147483650') }], 100, posternId).seen).toEqual([{ query: 'KILL QUERY 2147483650', protocol: 'query' }]);
  });

  it('cuts a long statement and says how long it was, without holding the rest', () => {
    const long = 'x'.repeat(40_000);
    const [q] = read([{ client: command(COM.QUERY, long) }], 1000).seen;
    expect(q!.query).toBe(`${'x'.repeat(16 * 1024)}… (40000 bytes)`);
  });

  it('ignores packets that are not commands (sequence above 0: LOAD DATA contents, long packets continued)', () => {
    const data = packet(2, Buffer.concat([Buffer.from([COM.CHANGE_USER]), Buffer.from('not a command')]));
    expect(read([{ client: data }])).toEqual({ seen: [], stops: [] });
  });
});
