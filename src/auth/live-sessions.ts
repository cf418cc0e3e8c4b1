import type { Logger } from '../log/logger.js';
import { Mirror } from '../storage/mirror.js';
import type { AppSessions, appSessionSchema } from './app-sessions.js';
import type { WebSessions, webSessionSchema } from './web-sessions.js';

/** A session something depends on: a browser's web session, or an app session made from one. */
export interface SessionRef {
  kind: 'web' | 'app';
  /** The storage name of the session: the hash of its secret. */
  hash: string;
}

/**
 * Which web and app sessions are alive, from copies kept current by storage watches, so that an
 * open connection that depends on a session can end the moment the session does: a logout, an
 * administrator's `ctl rm session`, a removed user, or the session's expiry (storage deletes
 * expired items, and the copies see the deletes).
 */
export class LiveSessions {
  private readonly web: Mirror<typeof webSessionSchema>;
  private readonly app: Mirror<typeof appSessionSchema>;

  constructor(web: WebSessions, app: AppSessions, log: Logger) {
    this.web = new Mirror(web.collection, log);
    this.app = new Mirror(app.collection, log);
  }

  async start(): Promise<void> {
    await Promise.all([this.web.start(), this.app.start()]);
  }

  close(): void {
    this.web.close();
    this.app.close();
  }

  /** Whether the session exists and has not expired. */
  async alive(ref: SessionRef): Promise<boolean> {
    const session = await (ref.kind === 'web' ? this.web : this.app).read(ref.hash);
    return session !== undefined && Date.parse(session.expires) > Date.now();
  }

  /** Called with each session that ends; returns the function that unsubscribes. */
  onEnd(listener: (ref: SessionRef) => void): () => void {
    const offWeb = this.web.onChange((change) => change.type === 'delete' && listener({ kind: 'web', hash: change.name }));
    const offApp = this.app.onChange((change) => change.type === 'delete' && listener({ kind: 'app', hash: change.name }));
    return () => {
      offWeb();
      offApp();
    };
  }
}
