import type { Duplex } from 'node:stream';
import { readMessage } from './read-message.js';

/**
 * The opening of a MySQL or MariaDB connection (the client/server protocol's "Connection Phase"):
 * the server's greeting, and what the client answers (an SSL request, or the handshake response
 * with its user and database). Packets are a 3-byte little-endian length, a sequence number, and
 * the payload. The database handler reads the client's answer before anything is authorized, so
 * the parser takes any bytes and answers incomplete, invalid or ok, and never throws. The ERR
 * packet is here too: a refusal reaches the mysql and mariadb clients as an error they print.
 */

/** Capability flags of the connection phase (the names are the protocol's). */
export const CLIENT = {
  LONG_PASSWORD: 0x1,
  FOUND_ROWS: 0x2,
  LONG_FLAG: 0x4,
  CONNECT_WITH_DB: 0x8,
  LOCAL_FILES: 0x80,
  IGNORE_SPACE: 0x100,
  PROTOCOL_41: 0x200,
  INTERACTIVE: 0x400,
  SSL: 0x800,
  TRANSACTIONS: 0x2000,
  SECURE_CONNECTION: 0x8000,
  MULTI_STATEMENTS: 0x10000,
  MULTI_RESULTS: 0x20000,
  PS_MULTI_RESULTS: 0x40000,
  PLUGIN_AUTH: 0x80000,
  CONNECT_ATTRS: 0x100000,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 0x200000,
  SESSION_TRACK: 0x800000,
  DEPRECATE_EOF: 0x1000000,
} as const;

/**
 * What Postern's greeting offers clients: what MySQL 5.7+ and MariaDB 10.2+ servers all support,
 * since the client picks from it before the agent reaches the server. No TLS (Postern's TLS
 * carries the session), no compression, no LOAD DATA LOCAL.
 */
export const POSTERN_MYSQL_CAPABILITIES =
  CLIENT.LONG_PASSWORD | CLIENT.FOUND_ROWS | CLIENT.LONG_FLAG | CLIENT.CONNECT_WITH_DB | CLIENT.IGNORE_SPACE | CLIENT.PROTOCOL_41 | CLIENT.INTERACTIVE | CLIENT.TRANSACTIONS |
  CLIENT.SECURE_CONNECTION | CLIENT.MULTI_STATEMENTS | CLIENT.MULTI_RESULTS | CLIENT.PS_MULTI_RESULTS | CLIENT.PLUGIN_AUTH | CLIENT.CONNECT_ATTRS |
  CLIENT.PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT.SESSION_TRACK | CLIENT.DEPRECATE_EOF;

/** Postern's greeting comes before the server is reached; clients show this as the server version until they ask the server. */
export const POSTERN_SERVER_VERSION = '8.0.0-Postern';

/** Command bytes: the first payload byte of a packet with sequence 0, after the connection phase. */
export const COM = {
  QUIT: 0x01,
  INIT_DB: 0x02,
  QUERY: 0x03,
  CHANGE_USER: 0x11,
  STMT_PREPARE: 0x16,
  STMT_EXECUTE: 0x17,
  STMT_CLOSE: 0x19,
  RESET_CONNECTION: 0x1f,
} as const;

/** The first byte of a server's answer during authentication. */
export const AUTH_ANSWER = { OK: 0x00, MORE_DATA: 0x01, SWITCH: 0xfe, ERR: 0xff } as const;

/** A handshake response is small; a client's connection attributes are the most of it (servers keep 512 bytes of them). */
export const MAX_HANDSHAKE_RESPONSE = 16 * 1024;
/** The client's fixed part: capabilities, max packet size, character set and 23 filler bytes. */
const FIXED_LENGTH = 32;

export type PacketRead = { status: 'incomplete' } | { status: 'invalid'; reason: string } | { status: 'ok'; sequence: number; payload: Buffer; length: number };

/** Reads one packet from a stream (see readMessage), leaving what follows it unread. */
export async function readMysqlPacket(stream: Duplex, what: string): Promise<{ sequence: number; payload: Buffer }> {
  const { read } = await readMessage(stream, (buf) => readPacket(buf), what);
  return read;
}

/** Reads the packet at the start of `buf`, refusing one longer than `max` bytes of payload. */
export function readPacket(buf: Buffer, max = MAX_HANDSHAKE_RESPONSE): PacketRead {
  if (buf.length < 4) return { status: 'incomplete' };
  const size = buf.readUIntLE(0, 3);
  if (size > max) return { status: 'invalid', reason: `a packet of ${size} bytes where at most ${max} are expected` };
  if (buf.length < 4 + size) return { status: 'incomplete' };
  return { status: 'ok', sequence: buf[3]!, payload: buf.subarray(4, 4 + size), length: 4 + size };
}

/** The fixed part every client answer starts with. */
export interface ClientFixed {
  capabilities: number;
  maxPacketSize: number;
  charset: number;
}

export type HandshakeResponse =
  /** The client asks for TLS; the handshake response follows inside it. */
  | ({ type: 'ssl' } & ClientFixed)
  | (ClientFixed & {
      type: 'response';
      user: string;
      /** The schema asked for, when the client named one (MySQL has no other database name). */
      database?: string;
      authPlugin?: string;
      authResponse: Buffer;
      attributes: [string, string][];
    });

/**
 * What the proxy tells the agent of a client's handshake response: the agent logs in to the
 * database as this user with the client's options, and answers the client's handshake.
 */
export interface MysqlClientHello extends ClientFixed {
  user: string;
  database?: string;
}

export type HandshakeRead = { status: 'invalid'; reason: string } | { status: 'ok'; response: HandshakeResponse };

/** Reads a client's answer to the greeting (the payload of its packet). Only protocol 4.1 clients are served. */
export function parseHandshakeResponse(payload: Buffer): HandshakeRead {
  if (payload.length < FIXED_LENGTH) return invalid(`a handshake response of ${payload.length} bytes (at least ${FIXED_LENGTH})`);
  const fixed: ClientFixed = { capabilities: payload.readUInt32LE(0), maxPacketSize: payload.readUInt32LE(4), charset: payload[8]! };
  const { capabilities } = fixed;
  if (!(capabilities & CLIENT.PROTOCOL_41)) return invalid('the client does not speak protocol 4.1 (MySQL 4.1 and later, every MariaDB)');
  if (payload.length === FIXED_LENGTH) return capabilities & CLIENT.SSL ? { status: 'ok', response: { type: 'ssl', ...fixed } } : invalid('a handshake response with no user');
  const reader = new Reader(payload, FIXED_LENGTH);
  const user = reader.nulString();
  if (user === undefined) return invalid('the user name does not end with a zero byte');
  if (!user) return invalid('the handshake response names no user');
  const authResponse =
    capabilities & CLIENT.PLUGIN_AUTH_LENENC_CLIENT_DATA ? reader.lenencBytes() : capabilities & CLIENT.SECURE_CONNECTION ? reader.bytes(reader.byte() ?? -1) : reader.nulBytes();
  if (authResponse === undefined) return invalid('the auth response runs past the packet');
  const database = capabilities & CLIENT.CONNECT_WITH_DB && !reader.done ? reader.nulString() : undefined;
  if (capabilities & CLIENT.CONNECT_WITH_DB && !reader.done && database === undefined) return invalid('the database name does not end with a zero byte');
  const authPlugin = capabilities & CLIENT.PLUGIN_AUTH && !reader.done ? reader.nulString() : undefined;
  const attributes = capabilities & CLIENT.CONNECT_ATTRS && !reader.done ? reader.attributes() : [];
  if (attributes === undefined) return invalid('the connection attributes run past the packet');
  return {
    status: 'ok',
    response: { type: 'response', ...fixed, user, ...(database ? { database } : {}), ...(authPlugin ? { authPlugin } : {}), authResponse, attributes },
  };
}

/**
 * The server's greeting (HandshakeV10, sequence 0). `scramble` is the 20 random bytes a password
 * plugin would hash with; Postern asks clients for no password, but clients expect the field.
 */
export function serverGreeting(opts: { serverVersion: string; connectionId: number; scramble: Buffer; capabilities: number; authPlugin: string }): Buffer {
  const { scramble, capabilities } = opts;
  const fixed = Buffer.alloc(4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10);
  let at = 0;
  at = fixed.writeUInt32LE(opts.connectionId, at);
  at += scramble.copy(fixed, at, 0, 8);
  at = fixed.writeUInt8(0, at);
  at = fixed.writeUInt16LE(capabilities & 0xffff, at);
  at = fixed.writeUInt8(45, at); // utf8mb4_general_ci
  at = fixed.writeUInt16LE(0x0002, at); // SERVER_STATUS_AUTOCOMMIT
  at = fixed.writeUInt16LE(capabilities >>> 16, at);
  fixed.writeUInt8(scramble.length + 1, at);
  const payload = Buffer.concat([Buffer.from([10]), Buffer.from(`${opts.serverVersion}\0`), fixed, scramble.subarray(8), Buffer.from([0]), Buffer.from(`${opts.authPlugin}\0`)]);
  return packet(0, payload);
}

export interface Greeting {
  serverVersion: string;
  connectionId: number;
  capabilities: number;
  authPlugin: string;
  /** The challenge a password plugin hashes with (20 bytes, for the usual plugins). */
  scramble: Buffer;
}

export type GreetingRead = { status: 'invalid'; reason: string } | { status: 'ok'; greeting: Greeting };

/** Reads a server's greeting (the payload of its first packet): an ERR packet there says why the server will not talk. */
export function parseGreeting(payload: Buffer): GreetingRead {
  if (payload[0] === AUTH_ANSWER.ERR) return invalid(`the server refused the connection: ${errMessage(payload)}`);
  if (payload[0] !== 10) return invalid(`a greeting of protocol version ${payload[0]} (10 expected)`);
  const reader = new Reader(payload, 1);
  const serverVersion = reader.nulString();
  const fixed = serverVersion === undefined ? undefined : reader.bytes(4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10);
  if (serverVersion === undefined || !fixed) return invalid('a greeting cut short');
  const capabilities = (fixed.readUInt16LE(13) | (fixed.readUInt16LE(18) << 16)) >>> 0;
  if (!(capabilities & CLIENT.PROTOCOL_41)) return invalid('the server does not speak protocol 4.1');
  const rest = reader.bytes(Math.max(13, fixed[20]! - 8)) ?? Buffer.alloc(0);
  const authPlugin = capabilities & CLIENT.PLUGIN_AUTH ? (reader.nulString() ?? '') : '';
  const scramble = Buffer.concat([fixed.subarray(4, 12), withoutClosingZero(rest)]);
  return { status: 'ok', greeting: { serverVersion, connectionId: fixed.readUInt32LE(0), capabilities, authPlugin, scramble } };
}

/** An AuthSwitchRequest's payload: 0xfe, the plugin's name, and its new scramble. */
export function parseAuthSwitch(payload: Buffer): { plugin: string; scramble: Buffer } {
  const end = payload.indexOf(0, 1);
  if (end < 0) return { plugin: '', scramble: Buffer.alloc(0) };
  return { plugin: payload.toString('utf8', 1, end), scramble: withoutClosingZero(payload.subarray(end + 1)) };
}

/** Scrambles are sent with a closing zero that is not part of them. */
function withoutClosingZero(data: Buffer): Buffer {
  return data.at(-1) === 0 ? data.subarray(0, -1) : data;
}

/** The message of an ERR packet's payload. */
export function errMessage(payload: Buffer): string {
  const text = payload.subarray(3).toString('utf8');
  return text.startsWith('#') ? text.slice(6) : text;
}

/** A client's SSL request: the fixed part of a handshake response, alone. */
export function sslRequest(sequence: number, fixed: ClientFixed): Buffer {
  return packet(sequence, clientFixed({ ...fixed, capabilities: fixed.capabilities | CLIENT.SSL }));
}

/**
 * A handshake response (protocol 4.1) for `user`. With no `authResponse` (the usual case: the
 * server authenticates the TLS client certificate) the password plugin's answer is empty. The
 * answer goes with a one-byte length: SECURE_CONNECTION or PLUGIN_AUTH_LENENC_CLIENT_DATA must be
 * set, and a password proof is at most 32 bytes, the same in both encodings.
 */
export function handshakeResponse(sequence: number, fields: ClientFixed & { user: string; database?: string; authPlugin: string; authResponse?: Buffer }): Buffer {
  const { capabilities } = fields;
  const auth = fields.authResponse ?? Buffer.alloc(0);
  const parts = [clientFixed(fields), Buffer.from(`${fields.user}\0`), Buffer.from([auth.length]), auth];
  if (capabilities & CLIENT.CONNECT_WITH_DB) parts.push(Buffer.from(`${fields.database ?? ''}\0`));
  if (capabilities & CLIENT.PLUGIN_AUTH) parts.push(Buffer.from(`${fields.authPlugin}\0`));
  return packet(sequence, Buffer.concat(parts));
}

function clientFixed(fields: ClientFixed): Buffer {
  const out = Buffer.alloc(FIXED_LENGTH);
  out.writeUInt32LE(fields.capabilities >>> 0, 0);
  out.writeUInt32LE(fields.maxPacketSize >>> 0, 4);
  out[8] = fields.charset;
  return out;
}

/** An OK packet with no rows affected and autocommit on. */
export function okPacket(sequence: number): Buffer {
  return packet(sequence, Buffer.from([AUTH_ANSWER.OK, 0, 0, 0x02, 0, 0, 0]));
}

/** An ERR packet: the clients print `ERROR code (state): message`. 1045/28000 is access denied. */
export function errPacket(sequence: number, fields: { code: number; sqlState: string; message: string }): Buffer {
  const head = Buffer.alloc(3);
  head[0] = 0xff;
  head.writeUInt16LE(fields.code, 1);
  return packet(sequence, Buffer.concat([head, Buffer.from(`#${fields.sqlState.slice(0, 5).padEnd(5, '0')}${fields.message}`, 'utf8')]));
}

export function packet(sequence: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUIntLE(payload.length, 0, 3);
  head[3] = sequence & 0xff;
  return Buffer.concat([head, payload]);
}

function invalid(reason: string): { status: 'invalid'; reason: string } {
  return { status: 'invalid', reason };
}

/** Reads the protocol's field types from a payload; each read is undefined when it runs past the end. */
class Reader {
  constructor(
    private readonly buf: Buffer,
    private at: number,
  ) {}

  get done(): boolean {
    return this.at >= this.buf.length;
  }

  byte(): number | undefined {
    return this.at < this.buf.length ? this.buf[this.at++] : undefined;
  }

  bytes(n: number): Buffer | undefined {
    if (n < 0 || this.at + n > this.buf.length) return undefined;
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  nulBytes(): Buffer | undefined {
    const end = this.buf.indexOf(0, this.at);
    if (end < 0) return undefined;
    const out = this.buf.subarray(this.at, end);
    this.at = end + 1;
    return out;
  }

  nulString(): string | undefined {
    return this.nulBytes()?.toString('utf8');
  }

  /** A length-encoded integer: one byte below 0xfb, else 0xfc/0xfd/0xfe and 2, 3 or 8 bytes. */
  lenenc(): number | undefined {
    const first = this.byte();
    if (first === undefined || first === 0xfb || first === 0xff) return undefined;
    if (first < 0xfb) return first;
    const width = first === 0xfc ? 2 : first === 0xfd ? 3 : 8;
    const raw = this.bytes(width);
    if (!raw) return undefined;
    const value = width === 8 ? Number(raw.readBigUInt64LE(0)) : raw.readUIntLE(0, width);
    return Number.isSafeInteger(value) ? value : undefined;
  }

  lenencBytes(): Buffer | undefined {
    const n = this.lenenc();
    return n === undefined ? undefined : this.bytes(n);
  }

  /** Connection attributes: a length-encoded total, then name and value pairs of length-encoded strings. */
  attributes(): [string, string][] | undefined {
    const block = this.lenencBytes();
    if (!block) return undefined;
    const inner = new Reader(block, 0);
    const out: [string, string][] = [];
    while (!inner.done) {
      const name = inner.lenencBytes();
      const value = name && inner.lenencBytes();
      if (!name || !value) return undefined;
      out.push([name.toString('utf8'), value.toString('utf8')]);
    }
    return out;
  }
}
