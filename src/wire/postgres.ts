import type { Duplex } from 'node:stream';
import { readMessage } from './read-message.js';

/**
 * The opening of a PostgreSQL connection as a client sends it (protocol 3.0 and 3.2; the
 * "Startup" section of the PostgreSQL frontend/backend protocol): every packet before
 * authentication is an Int32 length (itself included), then an Int32 code, then a body. The
 * database handlers read these before anything is authorized, so the parser takes any bytes and
 * answers incomplete, invalid or ok, and never throws. The backend's ErrorResponse is here too:
 * a refusal reaches psql as an error it prints.
 */

/** What the PostgreSQL server allows a startup packet to be (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_LENGTH = 10_000;

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
/** Protocol 3.0 and 3.2: major 3 in the high 16 bits, the minor in the low. */
const PROTOCOL_3 = 3 << 16;
const MINOR_VERSIONS = [0, 2];
/** A cancel key: 4 bytes in protocol 3.0, up to 256 in 3.2. */
const MAX_CANCEL_KEY = 256;

export type StartupPacket =
  | { type: 'ssl' }
  | { type: 'gssenc' }
  | { type: 'cancel'; pid: number; key: Buffer }
  | {
      type: 'startup';
      /** `3.0` or `3.2`. */
      version: string;
      user: string;
      /** The database asked for; PostgreSQL's default is the user name. */
      database: string;
      /** Every parameter, user and database included, in the order sent. */
      parameters: [string, string][];
    };

export type StartupRead = { status: 'incomplete' } | { status: 'invalid'; reason: string } | { status: 'ok'; packet: StartupPacket; length: number };

/** Reads the startup packet at the start of `buf`; `length` is how many bytes it took. */
export function parseStartupPacket(buf: Buffer): StartupRead {
  if (buf.length < 8) return { status: 'incomplete' };
  const length = buf.readUInt32BE(0);
  const code = buf.readUInt32BE(4);
  if (length < 8 || length > MAX_STARTUP_LENGTH) return invalid(`a startup packet of ${length} bytes (PostgreSQL allows 8 to ${MAX_STARTUP_LENGTH})`);
  if ((code === SSL_REQUEST || code === GSSENC_REQUEST) && length !== 8) return invalid('an SSLRequest or GSSENCRequest is 8 bytes');
  if (buf.length < length) return { status: 'incomplete' };
  const body = buf.subarray(8, length);
  if (code === SSL_REQUEST) return ok({ type: 'ssl' }, length);
  if (code === GSSENC_REQUEST) return ok({ type: 'gssenc' }, length);
  if (code === CANCEL_REQUEST) {
    if (body.length < 8 || body.length > 4 + MAX_CANCEL_KEY) return invalid('a CancelRequest holds a process ID and a key of 4 to 256 bytes');
    return ok({ type: 'cancel', pid: body.readUInt32BE(0), key: Buffer.from(body.subarray(4)) }, length);
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (code >>> 16 !== PROTOCOL_3 >>> 16 || !MINOR_VERSIONS.includes(minor)) {
    return invalid(major === 1234 ? `an unknown request code ${code}` : `protocol ${major}.${minor}; Postern speaks PostgreSQL protocol 3.0 and 3.2`);
  }
  const parameters = readParameters(body);
  if (typeof parameters === 'string') return invalid(parameters);
  const user = parameters.find(([name]) => name === 'user')?.[1];
  if (!user) return invalid('the startup message names no user');
  const database = parameters.find(([name]) => name === 'database')?.[1] || user;
  return ok({ type: 'startup', version: `${major}.${minor}`, user, database, parameters }, length);
}

/** Null-terminated name and value pairs, ended by one more zero byte; a reason when malformed. */
function readParameters(body: Buffer): [string, string][] | string {
  const pairs: [string, string][] = [];
  let at = 0;
  const next = (): string | undefined => {
    const end = body.indexOf(0, at);
    if (end < 0) return undefined;
    const text = body.toString('utf8', at, end);
    at = end + 1;
    return text;
  };
  for (;;) {
    const name = next();
    if (name === undefined) return 'the startup message does not end with a zero byte';
    if (name === '') return at === body.length ? pairs : 'the startup message has bytes after its end';
    const value = next();
    if (value === undefined) return `the startup parameter "${name.slice(0, 40)}" has no value`;
    pairs.push([name, value]);
  }
}

/** A StartupMessage with these parameters (what a client sends, and what the agent forwards). */
export function startupMessage(parameters: readonly [string, string][], minor = 0): Buffer {
  const body = Buffer.concat([...parameters.flatMap(([name, value]) => [Buffer.from(`${name}\0${value}\0`, 'utf8')]), Buffer.from([0])]);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length, 0);
  head.writeUInt32BE(PROTOCOL_3 | minor, 4);
  return Buffer.concat([head, body]);
}

/** The SSLRequest a client sends to ask for TLS (the server answers one byte: `S` or `N`). */
export function sslRequest(): Buffer {
  const packet = Buffer.alloc(8);
  packet.writeUInt32BE(8, 0);
  packet.writeUInt32BE(SSL_REQUEST, 4);
  return packet;
}

/**
 * A backend ErrorResponse, severity FATAL: psql prints `FATAL:  message`, then `DETAIL:` and
 * `HINT:` lines. `code` is the SQLSTATE: 28000 for a refused authorization, 3D000 for no such
 * database, 08006 for a connection that failed.
 */
export function errorResponse(fields: { code: string; message: string; detail?: string; hint?: string }): Buffer {
  const parts: [string, string | undefined][] = [
    ['S', 'FATAL'],
    ['V', 'FATAL'],
    ['C', fields.code],
    ['M', fields.message],
    ['D', fields.detail],
    ['H', fields.hint],
  ];
  const body = Buffer.concat([...parts.filter(([, v]) => v !== undefined).map(([k, v]) => Buffer.from(`${k}${v!.replace(/\0/g, '')}\0`, 'utf8')), Buffer.from([0])]);
  const head = Buffer.alloc(5);
  head.write('E', 0, 'latin1');
  head.writeUInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

function ok(packet: StartupPacket, length: number): StartupRead {
  return { status: 'ok', packet, length };
}

function invalid(reason: string): StartupRead {
  return { status: 'invalid', reason };
}

/**
 * Reads a client's opening up to its StartupMessage (or CancelRequest), answering `N` to its
 * requests for TLS or GSS encryption: TLS is Postern's own, around the whole connection. Resolves
 * with the packet and its bytes, and leaves the stream paused with anything after it unread.
 */
export async function readStartup(stream: Duplex): Promise<{ packet: Extract<StartupPacket, { type: 'startup' | 'cancel' }>; raw: Buffer }> {
  for (;;) {
    const { read, raw } = await readMessage(stream, parseStartupPacket, 'PostgreSQL client opening (a startup message)');
    if (read.packet.type !== 'ssl' && read.packet.type !== 'gssenc') return { packet: read.packet, raw };
    stream.write('N');
  }
}
