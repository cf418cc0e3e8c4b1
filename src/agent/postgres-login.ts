import type { Duplex } from 'node:stream';
import { parseStartupPacket } from '../wire/postgres.js';
import type { MessageRead } from '../wire/read-message.js';
import { postgresMd5Proof, ScramSha256 } from './password-proofs.js';

/**
 * The agent's side of PostgreSQL's password authentication, for a database configured with a
 * password file: the client (through the proxy) sends its StartupMessage as usual, the agent
 * answers the database's authentication requests with the password, and the client sees only
 * AuthenticationOk and what follows it, so it never asks for, or sees, a password.
 */

/** Authentication request codes (the protocol's AuthenticationXXX messages). */
const AUTH = { OK: 0, CLEARTEXT: 3, MD5: 5, SASL: 10, SASL_CONTINUE: 11, SASL_FINAL: 12 } as const;
const SCRAM = 'SCRAM-SHA-256';
/** Requests the agent answers before the database says OK: SASL takes three. */
const MAX_ROUNDS = 6;
/** Authentication messages are small; an ErrorResponse is the largest. */
const MAX_MESSAGE = 64 * 1024;

/** What the client is told first, and whether the session goes on. */
export interface LoginResult {
  answer?: Buffer;
  ok: boolean;
}

/**
 * Reads the client's StartupMessage from `client`, sends it to `server`, and answers the
 * database's authentication with `password`. Resolves with what the client gets: the database's
 * NegotiateProtocolVersion, if any, and AuthenticationOk (`ok`; the rest of the session's opening
 * stays unread in `server`), or the database's ErrorResponse as it sent it. A CancelRequest goes
 * on as it is: the database checks its key, not a password. Rejects when the database asks for
 * what the agent cannot answer, or when either side breaks the protocol.
 */
export async function loginPostgres(client: Duplex, server: Duplex, password: string): Promise<LoginResult> {
  const fromClient = new MessageReader(client, 'the proxy');
  const fromServer = new MessageReader(server, 'the database');
  try {
    const { read, raw } = await fromClient.next(parseStartupPacket, 'StartupMessage');
    server.write(raw);
    if (read.packet.type === 'cancel') return { ok: true };
    if (read.packet.type !== 'startup') throw new Error(`the proxy sent a ${read.packet.type} request where a StartupMessage belongs`);
    const answers = new PasswordAnswers(read.packet.user, password);
    const forClient: Buffer[] = [];
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const { read: message, raw: bytes } = await fromServer.next(parseBackendMessage, 'authentication message');
      // NegotiateProtocolVersion is about the client's own startup parameters: the client must see it.
      if (message.type === 'v') {
        forClient.push(bytes);
        continue;
      }
      if (message.type === 'E') return { answer: Buffer.concat([...forClient, bytes]), ok: false };
      if (message.type !== 'R' || message.body.length < 4) throw new Error(`the database sent message type "${message.type}" during authentication`);
      const code = message.body.readInt32BE(0);
      if (code === AUTH.OK) return { answer: Buffer.concat([...forClient, bytes]), ok: true };
      const reply = await answers.answer(code, message.body.subarray(4));
      if (reply) server.write(reply);
    }
    throw new Error(`the database asked for more than ${MAX_ROUNDS} rounds of authentication`);
  } finally {
    fromClient.release();
    fromServer.release();
  }
}

/**
 * Reads one message after another from a stream, for as long as the login lasts: what arrives is
 * buffered here, and what is left at release() goes back to the stream, paused, for the relay
 * that follows. (The database sends the end of authentication and the session's first messages
 * in one go; readMessage() reads one message from a peer that then waits for an answer.) Its
 * listeners also keep a failure between reads from being an 'error' nobody hears, which would
 * end the agent.
 */
class MessageReader {
  private buffered: Buffer = Buffer.alloc(0);
  private ended: Error | undefined;
  private wake: () => void = () => {};

  constructor(
    private readonly stream: Duplex,
    private readonly who: string,
  ) {
    stream.on('data', this.onData).on('end', this.onEnd).on('close', this.onEnd).on('error', this.onError);
    stream.resume();
  }

  /** The next message as `parse` reads it, and its bytes; rejects when it is malformed or the stream ends first. */
  async next<R extends { status: 'ok'; length: number }>(parse: (buf: Buffer) => MessageRead<R>, what: string): Promise<{ read: R; raw: Buffer }> {
    for (;;) {
      const read = parse(this.buffered);
      if (read.status === 'invalid') throw new Error(`${this.who} sent what is not a PostgreSQL ${what}: ${read.reason}`);
      if (read.status === 'ok') {
        const ok = read as R;
        const raw = this.buffered.subarray(0, ok.length);
        this.buffered = this.buffered.subarray(ok.length);
        return { read: ok, raw };
      }
      if (this.ended) throw this.ended;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  release(): void {
    this.stream.off('data', this.onData).off('end', this.onEnd).off('close', this.onEnd).off('error', this.onError);
    this.stream.pause();
    if (this.buffered.length && !this.ended) this.stream.unshift(this.buffered);
  }

  private readonly onData = (chunk: Buffer) => {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    this.wake();
  };

  private readonly onEnd = () => this.fail(new Error(`${this.who} closed the connection during authentication`));

  private readonly onError = (err: Error) => this.fail(new Error(`${this.who} failed during authentication: ${err.message}`));

  private fail(err: Error): void {
    this.ended ??= err;
    this.wake();
  }
}

/** The agent's answers to one session's authentication requests (SCRAM keeps state between them). */
class PasswordAnswers {
  private scram: ScramSha256 | undefined;

  constructor(
    private readonly user: string,
    private readonly password: string,
  ) {}

  /** The PasswordMessage (or SASL response) for request `code` with its `data`; none after SASL's final message. */
  async answer(code: number, data: Buffer): Promise<Buffer | undefined> {
    switch (code) {
      case AUTH.CLEARTEXT:
        return passwordMessage(Buffer.from(`${this.password}\0`));
      case AUTH.MD5:
        return passwordMessage(Buffer.from(`${postgresMd5Proof(this.user, this.password, data.subarray(0, 4))}\0`));
      case AUTH.SASL:
        return this.startScram(data);
      case AUTH.SASL_CONTINUE:
        return passwordMessage(Buffer.from(await this.started().final(data.toString('utf8'))));
      case AUTH.SASL_FINAL:
        this.started().verify(data.toString('utf8'));
        return undefined;
      default:
        throw new Error(`the database asks for authentication method ${code}, which the agent does not answer; in pg_hba.conf use scram-sha-256, md5 or password for this user (or cert, with no password_file)`);
    }
  }

  /** SASLInitialResponse: the mechanism, then the client-first-message with its length. */
  private startScram(data: Buffer): Buffer {
    const mechanisms = data.toString('utf8').split('\0').filter(Boolean);
    if (!mechanisms.includes(SCRAM)) throw new Error(`the database offers SASL mechanisms ${mechanisms.join(', ')}; the agent answers ${SCRAM}`);
    this.scram = new ScramSha256(this.password);
    const first = Buffer.from(this.scram.first());
    const length = Buffer.alloc(4);
    length.writeInt32BE(first.length);
    return passwordMessage(Buffer.concat([Buffer.from(`${SCRAM}\0`), length, first]));
  }

  private started(): ScramSha256 {
    if (!this.scram) throw new Error('the database continued a SASL exchange it had not started');
    return this.scram;
  }
}

/** A frontend message of type `p`: PasswordMessage, SASLInitialResponse and SASLResponse all share it. */
function passwordMessage(body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write('p', 0, 'latin1');
  head.writeUInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

/** One backend message: a type byte, an Int32 length (itself included), the body. */
function parseBackendMessage(buf: Buffer): MessageRead<{ status: 'ok'; type: string; body: Buffer; length: number }> {
  if (buf.length < 5) return { status: 'incomplete' };
  const length = buf.readUInt32BE(1);
  if (length < 4 || length > MAX_MESSAGE) return { status: 'invalid', reason: `a message of ${length} bytes during authentication` };
  if (buf.length < 1 + length) return { status: 'incomplete' };
  return { status: 'ok', type: String.fromCharCode(buf[0]!), body: buf.subarray(5, 1 + length), length: 1 + length };
}
