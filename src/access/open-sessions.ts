import { randomUUID } from 'node:crypto';
import type { StreamedKind } from '../audit/events.js';
import type { AccessRequest } from '../resources/table.js';

/** A relayed session open now in this process (SSH, a TCP app or route, a database, an app WebSocket). */
export interface OpenSession {
  /** Random, for ending it; no capability by itself (ending needs the `session` delete rule). */
  readonly id: string;
  readonly kind: StreamedKind;
  /** The resource's name: node, app, database, or the route's host:port. */
  readonly resource: string;
  /** Who opened it; absent for a route whose policy lets clients without identity through. */
  readonly user?: string;
  readonly clientAddr: string;
  /** How the caller proved who it is (certificate, session, token), or `none`. */
  readonly via: string;
  /** The login, database user or database name asked for, where the kind has one. */
  readonly request: AccessRequest;
  readonly started: Date;
  /** Counted as the bytes pass (serveStream): what the client sent so far. */
  bytesUp: number;
  /** What the upstream sent so far. */
  bytesDown: number;
}

export type OpenSessionFields = Omit<OpenSession, 'id' | 'started' | 'bytesUp' | 'bytesDown'>;

/**
 * The relayed sessions of this process, for the web console's Active sessions page. It only
 * lists them and passes an end on to the session's owner (Access, which revokes its live grant):
 * it decides nothing. Each proxy process has its own; with several proxies each lists its own.
 */
export class OpenSessions {
  private readonly open = new Map<string, { session: OpenSession; end: (reason: string) => boolean }>();

  /**
   * Lists a session until remove(). `end` closes it (true) or says it is closing already (false).
   * Returns the session, whose byte counts the caller keeps current.
   */
  add(fields: OpenSessionFields, end: (reason: string) => boolean): OpenSession {
    const session: OpenSession = { ...fields, id: randomUUID(), started: new Date(), bytesUp: 0, bytesDown: 0 };
    this.open.set(session.id, { session, end });
    return session;
  }

  remove(id: string): void {
    this.open.delete(id);
  }

  /** Oldest first. */
  list(): OpenSession[] {
    return [...this.open.values()].map((o) => o.session);
  }

  /** Ends a session; returns it, or undefined when none with this id is open (or it is closing already). */
  end(id: string, reason: string): OpenSession | undefined {
    const found = this.open.get(id);
    if (!found || !found.end(reason)) return undefined;
    return found.session;
  }
}
