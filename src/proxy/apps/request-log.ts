import type { AuditLog } from '../../audit/audit-log.js';
import type { Logger } from '../../log/logger.js';

export interface RequestRecord {
  time: string;
  method: string;
  path: string;
  status: number;
  bytes_in: number;
  bytes_out: number;
  duration_ms: number;
}

/** A chunk is written when it holds this many requests, or this long after its first. */
const CHUNK_SIZE = 200;
const CHUNK_AGE_MS = 5_000;

/**
 * Audits every request of an app session without an audit write per request: requests are
 * gathered per session and written as one `app.session.request` event per chunk (200 requests
 * or 5 s, whichever comes first, and whatever is left at shutdown).
 */
export class RequestLog {
  private readonly chunks = new Map<string, { user: string; app: string; remoteAddr: string; requests: RequestRecord[]; timer: NodeJS.Timeout }>();

  constructor(
    private readonly audit: AuditLog,
    private readonly log: Logger,
  ) {}

  record(session: { id: string; user: string; app: string; remoteAddr: string }, request: RequestRecord): void {
    let chunk = this.chunks.get(session.id);
    if (!chunk) {
      chunk = { user: session.user, app: session.app, remoteAddr: session.remoteAddr, requests: [], timer: setTimeout(() => this.flush(session.id), CHUNK_AGE_MS).unref() };
      this.chunks.set(session.id, chunk);
    }
    chunk.requests.push(request);
    if (chunk.requests.length >= CHUNK_SIZE) this.flush(session.id);
  }

  /** Writes every pending chunk (at shutdown). */
  async flushAll(): Promise<void> {
    await Promise.all([...this.chunks.keys()].map((id) => this.flush(id)));
  }

  private async flush(sessionId: string): Promise<void> {
    const chunk = this.chunks.get(sessionId);
    if (!chunk) return;
    this.chunks.delete(sessionId);
    clearTimeout(chunk.timer);
    try {
      await this.audit.emit({ event: 'app.session.request', user: chunk.user, remote_addr: chunk.remoteAddr, app: chunk.app, session_id: sessionId, requests: chunk.requests });
    } catch (err) {
      this.log.error('writing app requests to the audit log failed', { err, app: chunk.app, requests: chunk.requests.length });
    }
  }
}
