import type { DbAnnouncement } from '../../resources/db.js';

/** A session a CancelRequest may name: whose it is, and how to reach its database again. */
export interface CancellableSession {
  username: string;
  db: DbAnnouncement;
  dbUser: string;
  dbName: string;
}

/**
 * The sessions open through this proxy, by the key the database gave each (BackendKeyData: a
 * process ID and a secret). A client cancels a running query on a new connection that carries
 * only that key; the key finds the session, and only its own user may cancel it.
 */
export class PostgresSessions {
  private readonly byKey = new Map<string, CancellableSession>();

  add(pid: number, secret: Buffer, session: CancellableSession): () => void {
    const key = keyOf(pid, secret);
    this.byKey.set(key, session);
    return () => {
      if (this.byKey.get(key) === session) this.byKey.delete(key);
    };
  }

  find(pid: number, secret: Buffer): CancellableSession | undefined {
    return this.byKey.get(keyOf(pid, secret));
  }
}

function keyOf(pid: number, secret: Buffer): string {
  return `${pid}:${secret.toString('hex')}`;
}

/**
 * Finds BackendKeyData in what the database sends at the start of a session (after the
 * authentication messages, before the first ReadyForQuery), then stops looking.
 */
export class BackendKeyReader {
  private buffered: Buffer = Buffer.alloc(0);
  private done = false;

  constructor(private readonly onKey: (pid: number, secret: Buffer) => void) {}

  feed(chunk: Buffer): void {
    if (this.done) return;
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    while (this.buffered.length >= 5) {
      const type = String.fromCharCode(this.buffered[0]!);
      const length = this.buffered.readUInt32BE(1);
      if (length < 4 || length > 64 * 1024) return this.stop();
      if (this.buffered.length < 1 + length) return;
      const body = this.buffered.subarray(5, 1 + length);
      this.buffered = this.buffered.subarray(1 + length);
      if (type === 'K' && body.length >= 8) {
        this.onKey(body.readUInt32BE(0), Buffer.from(body.subarray(4)));
        return this.stop();
      }
      if (type === 'Z' || type === 'E') return this.stop();
    }
  }

  private stop(): void {
    this.done = true;
    this.buffered = Buffer.alloc(0);
  }
}
