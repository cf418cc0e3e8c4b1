import { describe, expect, it } from 'vitest';
import type { DbAnnouncement } from '../../resources/db.js';
import { BackendKeyReader, PostgresSessions } from './postgres-cancel.js';

const backend = (type: string, body: Buffer) => {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
};

describe('PostgreSQL cancel keys', () => {
  it("finds BackendKeyData among a session's first messages, however they are cut, then stops", () => {
    const key = Buffer.alloc(8);
    key.writeUInt32BE(4242, 0);
    key.write('sec!', 4);
    const bytes = Buffer.concat([backend('R', Buffer.alloc(4)), backend('S', Buffer.from('TimeZone\0UTC\0')), backend('K', key), backend('Z', Buffer.from('I')), backend('K', Buffer.alloc(8))]);
    for (const size of [1, 3, bytes.length]) {
      const found: [number, string][] = [];
      const reader = new BackendKeyReader((pid, secret) => found.push([pid, secret.toString()]));
      for (let at = 0; at < bytes.length; at += size) reader.feed(bytes.subarray(at, at + size));
      expect(found).toEqual([[4242, 'sec!']]);
    }
  });

  it('knows a session by its key until it ends', () => {
    const sessions = new PostgresSessions();
    const db = { kind: 'db', name: 'pg', labels: {} } as unknown as DbAnnouncement;
    const forget = sessions.add(7, Buffer.from('abcd'), { username: 'alice', db, dbUser: 'alice', dbName: 'orders' });
    expect(sessions.find(7, Buffer.from('abcd'))?.username).toBe('alice');
    expect(sessions.find(7, Buffer.from('abce'))).toBeUndefined();
    forget();
    expect(sessions.find(7, Buffer.from('abcd'))).toBeUndefined();
  });
});
