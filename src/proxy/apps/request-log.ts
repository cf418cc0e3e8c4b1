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

/** Whose requests a chunk holds: an app session, or a certificate for the app (curl, `postern proxy app`). */
export interface RequestSource {
  /** Groups requests into chunks: the session, or the certificate. */
  key: string;
  /** Said in the event: `session_id`, or `via: certificate`. */
  fields: Record<string, string>;
  user: string;
  app: string;
  remoteAddr: string;
}

/**
 * Audits every request to an app without an audit write per request: requests are gathered per
 * app session (or certificate) and written as one `app.session.request` event per chunk (200
 * requests or 5 s, whichever comes first, and whatever is left at shutdown).
 */
export class RequestLog {
  private readonly chunks = new Map<string, { source: RequestSource; requests: RequestRecord[]; timer: NodeJS.Timeout }>();

  constructor(
    private readonly audit: AuditLog,
    private readonly log: Logger,
  ) {}

  record(source: RequestSource, request: RequestRecord): void {
    const key = `${source.key}:${source.app}`;
    let chunk = this.chunks.get(key);
    if (!chunk) {
      chunk = { source, requests: [], timer: setTimeout(() => this.flush(key), CHUNK_AGE_MS).unref() };
      this.chunks.set(key, chunk);
    }
    chunk.requests.push(request);
    if (chunk.requests.length >= CHUNK_SIZE) void this.flush(key);
  }

  /** Writes every pending chunk (at shutdown). */
  async flushAll(): Promise<void> {
    await Promise.all([...this.chunks.keys()].map((id) => this.flush(id)));
  }

  private async flush(key: string): Promise<void> {
    const chunk = this.chunks.get(key);
    if (!chunk) return;
    this.chunks.delete(key);
    clearTimeout(chunk.timer);
    const { source, requests } = chunk;
    try {
      await this.audit.emit({ event: 'app.session.request', user: source.user, remote_addr: source.remoteAddr, app: source.app, ...source.fields, requests });
    } catch (err) {
      this.log.error('writing app requests to the audit log failed', { err, app: source.app, requests: requests.length });
    }
  }
}
