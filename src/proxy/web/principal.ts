import type { TLSSocket } from 'node:tls';
import type { AuthService } from '../../auth/auth-service.js';
import type { LockWatcher } from '../../auth/lock-watcher.js';
import { lockedError } from '../../auth/locks.js';
import type { IdentityVerifier } from '../../auth/verifier.js';
import { SESSION_COOKIE } from '../../auth/web-sessions.js';
import { PosternError } from '../../errors/postern-error.js';
import type { RoutedConnection } from '../router.js';
import { cookie } from './body.js';
import type { WebContext } from './web-handler.js';

/** Who made a web request, and how they proved it. */
export interface Principal {
  username: string;
  roles: string[];
  traits: Record<string, string[]>;
  via: 'certificate' | 'session';
  expires: Date;
  /** The session cookie's value, for logout. */
  sessionSecret?: string;
}

const VERIFIED = Symbol('postern.verified');
type VerifiedConn = RoutedConnection & { [VERIFIED]?: Principal };

/**
 * Authenticates web requests: a client certificate (checked once per connection by the one
 * verifier; the connection is then tracked, so a lock ends it) or a session cookie (looked up
 * per request, so ending the session or locking the user takes effect on the next request).
 */
export class WebAuthenticator {
  constructor(
    private readonly auth: AuthService,
    private readonly verifier: IdentityVerifier,
    private readonly lockWatcher: LockWatcher,
  ) {}

  async principal(ctx: WebContext): Promise<Principal> {
    const found = (await this.fromCertificate(ctx.conn)) ?? (await this.fromSession(ctx));
    if (!found) throw new PosternError('UNAUTHENTICATED', 'log in first: `postern login`, or sign in at /web in a browser');
    return found;
  }

  private async fromCertificate(conn: VerifiedConn): Promise<Principal | undefined> {
    if (conn[VERIFIED]) return conn[VERIFIED];
    const socket: TLSSocket = conn.socket;
    if (!socket.getPeerX509Certificate()) return undefined;
    const id = this.verifier.verifySocket(socket, 'user');
    const principal: Principal = { username: id.username, roles: id.roles, traits: id.traits, via: 'certificate', expires: id.expires };
    conn[VERIFIED] = principal;
    // The connection lives until a lock covers it or the certificate expires, whichever is first.
    const untrack = this.lockWatcher.track({
      subject: { username: id.username, roles: id.roles },
      end: (lock) => {
        conn.log.info('closing a connection: a lock now covers its user', { user: id.username, lock: lock.id });
        socket.destroy();
      },
    });
    const expiry = setTimeout(() => socket.destroy(), Math.max(0, id.expires.getTime() - Date.now())).unref();
    socket.once('close', () => {
      untrack();
      clearTimeout(expiry);
    });
    return principal;
  }

  private async fromSession(ctx: WebContext): Promise<Principal | undefined> {
    const secret = cookie(ctx.req, SESSION_COOKIE);
    if (!secret) return undefined;
    const session = await this.auth.sessions.get(secret);
    if (!session) throw new PosternError('UNAUTHENTICATED', 'your session has ended; sign in again at /web');
    const user = await this.auth.users.get(session.user);
    if (!user) throw new PosternError('UNAUTHENTICATED', 'the user of this session no longer exists');
    const lock = this.lockWatcher.find({ username: user.name, roles: user.roles });
    if (lock) throw lockedError(lock);
    return { username: user.name, roles: user.roles, traits: user.traits, via: 'session', expires: new Date(session.expires), sessionSecret: secret };
  }
}
