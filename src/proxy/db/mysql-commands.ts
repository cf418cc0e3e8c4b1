import { COM } from '../../wire/mysql.js';

/** What a client asked a MySQL or MariaDB server to run. */
export type MysqlQuery = {
  query: string;
  /** `query`: COM_QUERY (the mysql client, scripts); `prepare` / `execute`: prepared statements (drivers); `init_db`: a change of schema (USE). */
  protocol: 'query' | 'prepare' | 'execute' | 'init_db';
  /** An executed statement's parameter count, from the server's answer to its prepare (the values stay out of the audit log). */
  parameters?: number;
};

/** Longest statement text kept; a longer one is cut and says how long it was. */
const MAX_QUERY = 16 * 1024;
/** MariaDB's COM_STMT_EXECUTE for "the statement prepared last", without a round trip. */
const LAST_PREPARED = 0xffffffff;
/** The payload of COM_STMT_PREPARE_OK: 0x00, statement id, columns, parameters, a filler byte, warnings. */
const PREPARE_OK_LENGTH = 12;

const NOTHING = Buffer.alloc(0);

/**
 * Splits a stream of MySQL packets (a 3-byte little-endian length, a sequence number, the
 * payload) as it goes past, giving each packet's start and the first `keep(sequence)` bytes of
 * its payload; the rest is passed over without being copied. A result set is a packet per row:
 * most packets are kept nothing of.
 */
class PacketScanner<T> {
  /** A header cut across chunks, while it is. */
  private header = NOTHING;
  /** Payload bytes of the current packet still to come. */
  private left = 0;
  private sequence = 0;
  private length = 0;
  private wanted = 0;
  private kept: Buffer[] = [];
  private keptBytes = 0;

  constructor(
    private readonly keep: (sequence: number) => number,
    /** Told as soon as a packet's first payload byte is seen: may stop the scan (and the chunk) by returning why. */
    private readonly onFirstByte: (sequence: number, first: number) => T | undefined,
    /** Told each whole packet (`head`: its first `keep` bytes); may stop the scan too. */
    private readonly onPacket: (sequence: number, length: number, head: Buffer) => T | undefined,
  ) {}

  /** Returns why the stream must stop before this chunk goes on, when a callback says so. */
  feed(chunk: Buffer): T | undefined {
    let at = 0;
    while (at < chunk.length) {
      if (this.left === 0) {
        let header: Buffer;
        if (this.header.length === 0 && chunk.length - at >= 4) header = chunk.subarray(at, (at += 4));
        else {
          const need = 4 - this.header.length;
          this.header = Buffer.concat([this.header, chunk.subarray(at, at + need)]);
          at += Math.min(need, chunk.length - at);
          if (this.header.length < 4) return undefined;
          header = this.header;
          this.header = NOTHING;
        }
        this.length = this.left = header.readUIntLE(0, 3);
        this.sequence = header[3]!;
        this.wanted = this.keep(this.sequence);
        if (this.left === 0) {
          const stop = this.onPacket(this.sequence, 0, NOTHING);
          if (stop) return stop;
        }
        continue;
      }
      const n = Math.min(this.left, chunk.length - at);
      if (this.left === this.length) {
        const stop = this.onFirstByte(this.sequence, chunk[at]!);
        if (stop) return stop;
      }
      if (this.keptBytes < this.wanted) {
        const taken = chunk.subarray(at, at + Math.min(n, this.wanted - this.keptBytes));
        this.kept.push(Buffer.from(taken));
        this.keptBytes += taken.length;
      }
      this.left -= n;
      at += n;
      if (this.left === 0) {
        const head = this.kept.length === 1 ? this.kept[0]! : this.kept.length ? Buffer.concat(this.kept) : NOTHING;
        this.kept = [];
        this.keptBytes = 0;
        const stop = this.onPacket(this.sequence, this.length, head);
        if (stop) return stop;
      }
    }
    return undefined;
  }
}

/**
 * Why a client's command must not reach the server: a command Postern refuses, or a `KILL [QUERY]`
 * of a connection id that Postern's greeting made up (the id in the mysql client's Ctrl-C), which
 * the proxy carries out itself against the server's own id.
 */
export type MysqlStop = { refused: string } | { kill: { connectionId: number; query: boolean } };

/** `KILL [QUERY | CONNECTION] id`, as clients send it on Ctrl-C (MariaDB's HARD/SOFT included). */
const KILL = /^\s*KILL\s+(?:(?:HARD|SOFT)\s+)?(QUERY\s+|CONNECTION\s+)?(\d{1,10})\s*;?\s*$/i;

/**
 * Reads a MySQL client's commands after the connection phase, as they stream past (each command
 * is a packet of sequence 0 whose first byte names it), and reports the statements it runs:
 * COM_QUERY, COM_STMT_PREPARE and COM_INIT_DB with their text, COM_STMT_EXECUTE with the text and
 * parameter count of the statement it runs. That count and the statement's id come from the
 * server's answer to the prepare (`fromServer`): the answer to a prepare is the server's next
 * packet of sequence 1, as clients wait for each answer before the next command. `fromClient`
 * returns a MysqlStop for a command that must not reach the server: COM_CHANGE_USER (it would log
 * in as another database user without a decision), and a KILL that names a connection id
 * `isPosternId` says the proxy made up.
 */
export class MysqlCommandReader {
  private readonly statements = new Map<number, { query: string; parameters: number }>();
  /** Prepares sent, waiting for the server's answer, oldest first. */
  private readonly preparing: string[] = [];
  private lastPrepared: { query: string; parameters: number } | undefined;
  private readonly client = new PacketScanner<MysqlStop>(
    (sequence) => (sequence === 0 ? MAX_QUERY + 1 : 0),
    (sequence, first) => (sequence === 0 && first === COM.CHANGE_USER ? { refused: 'COM_CHANGE_USER (logging in again as another database user) is not allowed through Postern; connect again as that user' } : undefined),
    (sequence, length, head) => (sequence === 0 ? this.command(length, head) : undefined),
  );
  // Only the first packet of the answer to a prepare is read; the rows of results are passed over.
  private readonly server = new PacketScanner<never>(
    (sequence) => (sequence === 1 && this.preparing.length ? PREPARE_OK_LENGTH : 0),
    () => undefined,
    (sequence, length, head) => {
      if (sequence === 1 && this.preparing.length) this.prepared(length, head);
      return undefined;
    },
  );

  constructor(
    private readonly onQuery: (query: MysqlQuery) => void,
    private readonly isPosternId: (connectionId: number) => boolean = () => false,
  ) {}

  fromClient(chunk: Buffer): MysqlStop | undefined {
    return this.client.feed(chunk);
  }

  fromServer(chunk: Buffer): void {
    this.server.feed(chunk);
  }

  private command(length: number, head: Buffer): MysqlStop | undefined {
    const text = () => clip(head.subarray(1), length - 1);
    switch (head[0]) {
      case COM.QUERY: {
        const query = text();
        this.onQuery({ query, protocol: 'query' });
        const kill = KILL.exec(query);
        const connectionId = Number(kill?.[2]);
        return kill && this.isPosternId(connectionId) ? { kill: { connectionId, query: /^QUERY/i.test(kill[1] ?? '') } } : undefined;
      }
      case COM.INIT_DB:
        this.onQuery({ query: text(), protocol: 'init_db' });
        return undefined;
      case COM.STMT_PREPARE:
        this.preparing.push(text());
        this.onQuery({ query: this.preparing.at(-1)!, protocol: 'prepare' });
        return undefined;
      case COM.STMT_EXECUTE: {
        const id = head.length >= 5 ? head.readUInt32LE(1) : -1;
        const statement = id === LAST_PREPARED ? this.lastPrepared : this.statements.get(id);
        this.onQuery({ query: statement?.query ?? `(statement ${id}, prepared before Postern saw it)`, protocol: 'execute', parameters: statement?.parameters ?? 0 });
        return undefined;
      }
      case COM.STMT_CLOSE:
        if (head.length >= 5) this.statements.delete(head.readUInt32LE(1));
        return undefined;
      case COM.RESET_CONNECTION:
        this.statements.clear();
        return undefined;
    }
    return undefined;
  }

  /** The server's answer to the oldest prepare waiting: COM_STMT_PREPARE_OK, or an error. */
  private prepared(length: number, head: Buffer): void {
    const query = this.preparing.shift()!;
    if (head[0] !== 0x00 || length !== PREPARE_OK_LENGTH) return;
    this.lastPrepared = { query, parameters: head.readUInt16LE(7) };
    this.statements.set(head.readUInt32LE(1), this.lastPrepared);
  }
}

function clip(text: Buffer, length: number): string {
  const query = text.toString('utf8', 0, Math.min(text.length, MAX_QUERY));
  return length > MAX_QUERY ? `${query}… (${length} bytes)` : query;
}
