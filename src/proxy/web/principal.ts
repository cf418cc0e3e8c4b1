import type { IncomingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AuthService } from '../../auth/auth-service.js';
import type { LockWatcher } from '../../auth/lock-watcher.js';
import { lockedError } from '../../auth/locks.js';
import { checkRouteScope, type IdentityVerifier } from '../../auth/verifier.js';
import { SESSION_COOKIE } from '../../auth/web-sessions.js';
import type { Route } from '../../pki/identity.js';
import { isPosternError, PosternError } from '../../errors/postern-error.js';
import { abortStream } from '../../net/pipe.js';
import type { RoutedConnection } from '../router.js';
import { cookie } from './body.js';
import type { WebContext } from './web-handler.js';

/** Who made a web request, and how they proved it. */
export interface Principal {
  username: string;
  roles: string[];
  traits: Record<string, string[]>;
  via: 'certificate' | 'session' | 'token';
  expires: Date;
  /** The session cookie's or bearer token's value (logout; re-checking that it still lives). */
  sessionSecret?: string;
  /** A certificate narrowed to one resource (`postern apps login`). */
  route?: Route;
  /** A token from `postern tcp`'s browser or device login: it opens TCP tunnels, and is no login for the API. */
  tunnelsOnly?: boolean;
}

const VERIFIED = Symbol('postern.verified');
type VerifiedConn = RoutedConnection & { [VERIFIED]?: Principal };

/**
 * Authenticates web requests: a client certificate (checked once per connection by the one
 * verifier; the connection is then tracked, so a lock ends it), a session cookie, or a bearer
 * token from a CLI login (both looked up per request, so ending the session or locking the user
 * takes effect on the next request).
 */
export class WebAuthenticator {
  constructor(
    private readonly auth: AuthService,
    private readonly verifier: IdentityVerifier,
    private readonly lockWatcher: LockWatcher,
  ) {}

  /**
   * Who made an API request. A `postern tcp` token is refused here unless `tunnelToken` says the
   * route takes one (whoami, logout): it was granted to open tunnels, and nothing more.
   */
  async principal(ctx: WebContext, opts: { tunnelToken?: boolean } = {}): Promise<Principal> {
    const found = await this.identify(ctx.conn, ctx.req.headers);
    if (!found) throw new PosternError('UNAUTHENTICATED', 'log in first: `postern login`, or sign in at /web in a browser');
    if (found.tunnelsOnly && !opts.tunnelToken) {
      throw new PosternError('ACCESS_DENIED', 'this token from `postern tcp` opens TCP tunnels only; for the API run `postern login`, or sign in at /web');
    }
    return found;
  }

  /** Whoever the connection's certificate, the cookie or the bearer token names; undefined when none does. */
  async identify(conn: RoutedConnection, headers: IncomingHttpHeaders): Promise<Principal | undefined> {
    const cert = this.certificatePrincipal(conn);
    if (cert) checkRouteScope(cert.route, undefined); // an app's certificate is no login for the proxy's API
    return cert ?? (await this.fromBearer(headers)) ?? (await this.fromSession(cookie(headers, SESSION_COOKIE)));
  }

  /**
   * The principal as it stands now, for re-checking a long-lived grant: a session or token is
   * looked up again (so the user's current roles and traits count, and an ended session, a
   * removed user or a lock shows); a certificate keeps its roles until it expires or a lock
   * covers it. Either the current principal, or why there is none.
   */
  async current(principal: Principal): Promise<{ principal: Principal } | { reason: string }> {
    if (principal.expires.getTime() <= Date.now()) return { reason: principal.via === 'certificate' ? 'the certificate expired' : 'the session expired' };
    if (principal.via === 'certificate') {
      const lock = this.lockWatcher.find(principal);
      return lock ? { reason: `a lock now covers it (${lock.message || lock.id})` } : { principal };
    }
    try {
      return { principal: (await this.fromSession(principal.sessionSecret, principal.via))! };
    } catch (err) {
      if (isPosternError(err)) return { reason: err.message };
      throw err;
    }
  }

  /**
   * The connection's client certificate as a principal, verified once per connection: the
   * connection is then tracked, so a lock or the certificate's expiry ends it. A certificate
   * narrowed to one app comes back with its route: callers check it (checkRouteScope).
   */
  certificatePrincipal(conn: VerifiedConn): Principal | undefined {
    if (conn[VERIFIED]) return conn[VERIFIED];
    const socket: TLSSocket = conn.socket;
    if (!socket.getPeerX509Certificate()) return undefined;
    const id = this.verifier.verifyPeer(socket, 'user');
    const principal: Principal = { username: id.username, roles: id.roles, traits: id.traits, via: 'certificate', expires: id.expires, ...(id.route ? { route: id.route } : {}) };
    conn[VERIFIED] = principal;
    // The connection lives until a lock covers it or the certificate expires, whichever is first.
    const untrack = this.lockWatcher.track({
      subject: { username: id.username, roles: id.roles },
      end: (lock) => {
        conn.log.info('closing a connection: a lock now covers its user', { user: id.username, lock: lock.id });
        abortStream(socket);
      },
    });
    const expiry = setTimeout(() => abortStream(socket), Math.max(0, id.expires.getTime() - Date.now())).unref();
    socket.once('close', () => {
      untrack();
      clearTimeout(expiry);
    });
    return principal;
  }

  /** `Authorization: Bearer …` (or `Proxy-Authorization`, on CONNECT): a token from a CLI login. */
  private fromBearer(headers: IncomingHttpHeaders): Promise<Principal | undefined> {
    const header = headers['proxy-authorization'] ?? headers.authorization;
    const token = typeof header === 'string' && /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    return token ? this.fromSession(token, 'token') : Promise.resolve(undefined);
  }

  private async fromSession(secret: string | undefined, via: 'session' | 'token' = 'session'): Promise<Principal | undefined> {
    if (!secret) return undefined;
    const session = await this.auth.sessions.get(secret);
    if (!session) throw new PosternError('UNAUTHENTICATED', via === 'token' ? 'the token has expired or was revoked; log in again' : 'your session has ended; sign in again at /web');
    const user = await this.auth.users.get(session.user);
    if (!user) throw new PosternError('UNAUTHENTICATED', 'the user of this session no longer exists');
    const lock = this.lockWatcher.find({ username: user.name, roles: user.roles });
    if (lock) throw lockedError(lock);
    return { username: user.name, roles: user.roles, traits: user.traits, via, expires: new Date(session.expires), sessionSecret: secret, ...(session.kind === 'cli' ? { tunnelsOnly: true } : {}) };
  }
}
