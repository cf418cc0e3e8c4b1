import { describe, expect, it } from 'vitest';
import { PostgresQueryReader, type PostgresQuery } from './postgres-queries.js';

/** A frontend message: its type, an Int32 length, the body. */
function message(type: string, ...parts: (string | number[] | Buffer)[]): Buffer {
  const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p + '\0') : Buffer.from(p))));
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

const int16 = (n: number) => [n >> 8, n & 0xff];
const bind = (portal: string, statement: string, values: string[]) =>
  message('B', portal, statement, int16(0), int16(values.length), ...values.flatMap((v) => [Buffer.from([0, 0, 0, v.length]), Buffer.from(v)]), int16(0));

function read(bytes: Buffer, chunk = bytes.length): PostgresQuery[] {
  const seen: PostgresQuery[] = [];
  const reader = new PostgresQueryReader((q) => seen.push(q));
  for (let at = 0; at < bytes.length; at += chunk) reader.feed(bytes.subarray(at, at + chunk));
  return seen;
}

describe('PostgresQueryReader', () => {
  const session = Buffer.concat([
    message('Q', 'select 1; select 2'),
    message('P', 's1', 'UPDATE t SET v = $1 WHERE id = $2', int16(0)),
    bind('', 's1', ['7', '42']),
    message('D', Buffer.from('P'), ''),
    message('E', '', [0, 0, 0, 0]),
    message('S'),
    message('d', Buffer.alloc(3000)), // COPY data: passed over unread
    message('C', Buffer.from('S'), 's1'),
    bind('', 's1', []), // the statement was closed: nothing to name
    message('E', '', [0, 0, 0, 0]),
  ]);
  const expected: PostgresQuery[] = [
    { query: 'select 1; select 2', protocol: 'simple' },
    { query: 'UPDATE t SET v = $1 WHERE id = $2', protocol: 'extended', parameters: 2 },
    { query: '', protocol: 'extended', parameters: 0 },
  ];

  it('reports simple queries, and extended ones at their Execute with the parameter count', () => {
    expect(read(session)).toEqual(expected);
  });

  it('reads the same however the bytes are cut', () => {
    for (const chunk of [1, 2, 5, 7, 64]) expect(read(session, chunk)).toEqual(expected);
  });

  it('cuts a long query, and stops at bytes that are not the protocol', () => {
    const [long] = read(message('Q', 'x'.repeat(20_000)));
    expect(long!.query).toMatch(/^x{16384}… \(20000 characters\)$/);
    expect(read(Buffer.concat([Buffer.from([0x51, 0, 0, 0, 1]), message('Q', 'select 1')]))).toEqual([]);
  });
});
