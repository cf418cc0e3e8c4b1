import type { IncomingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Access } from '../../access/access.js';
import { callerFromIdentity, type Caller } from '../../access/caller.js';
import type { AuthService } from '../../auth/auth-service.js';
import { tokenHash } from '../../auth/secret-token.js';
import { checkRouteScope, type IdentityVerifier } from '../../auth/verifier.js';
import { SESSION_COOKIE } from '../../auth/web-sessions.js';
import { PosternError } from '../../errors/postern-error.js';
import { abortStream } from '../../net/pipe.js';
import type { RoutedConnection } from '../router.js';
import { cookie } from './body.js';
import type { WebContext } from './web-handler.js';

/** Who made a web request, and how they proved it. */
export interface Principal extends Caller {
  via: 'certificate' | 'session' | 'token';
  /** The session cookie's or bearer token's value (logout). */
  sessionSecret?: string;
  /** A token from `postern tcp`'s browser or device login: it opens TCP tunnels, and is no login for the API. */
  tunnelsOnly?: boolean;
  /** The client certificate's SHA-256 fingerprint, for a principal that presented one. */
  fingerprint?: string;
}

const VERIFIED = Symbol('postern.verified');
type VerifiedConn = RoutedConnection & { [VERIFIED]?: Principal };

/**
 * Authenticates web requests: a client certificate (checked once per connection by the one
 * verifier, then held as a live grant, so a lock, a removed user or the certificate's expiry
 * closes the connection), a session cookie, or a bearer token from a CLI login (both looked up
 * per request). Every principal is then taken through the access layer's standing: the user as
 * stored now, with the sessions it depends on alive.
 */
export class WebAuthenticator {
  constructor(
    private readonly auth: AuthService,
    private readonly verifier: IdentityVerifier,
    private readonly access: Access,
  ) {}

  /**
   * Who made an API request, as they stand now. A `postern tcp` token is refused here unless
   * `tunnelToken` says the route takes one (whoami, logout): it was granted to open tunnels, and
   * nothing more.
   */
  async principal(ctx: WebContext, opts: { tunnelToken?: boolean } = {}): Promise<Principal> {
    const found = await this.identify(ctx.conn, ctx.req.headers);
    if (!found) throw new PosternError('UNAUTHENTICATED', 'log in first: `postern login`, or sign in at /web in a browser');
    checkRouteScope(found.route, undefined); // an app's certificate is no login for the proxy's API
    if (found.tunnelsOnly && !opts.tunnelToken) {
      throw new PosternError('ACCESS_DENIED', 'this token from `postern tcp` opens TCP tunnels only; for the API run `postern login`, or sign in at /web');
    }
    // Throws, logged and audited, when the user is gone or locked, or the session has ended.
    await this.access.admit(found, { what: `${ctx.req.method ?? 'GET'} ${ctx.path}`, clientAddr: ctx.conn.clientAddr.address, log: ctx.log });
    return found;
  }

  /**
   * Whoever the connection's certificate, the cookie or the bearer token names; undefined when none
   * does. A certificate narrowed to one resource comes back as it is: the access pipeline refuses
   * it anywhere else.
   */
  async identify(conn: RoutedConnection, headers: IncomingHttpHeaders): Promise<Principal | undefined> {
    const found = this.certificatePrincipal(conn) ?? (await this.fromBearer(headers)) ?? (await this.fromSession(cookie(headers, SESSION_COOKIE)));
    if (found) conn.authenticate(); // no longer an anonymous connection to the listener's limits
    return found;
  }

  /**
   * The connection's client certificate as a principal, verified once per connection, which is
   * then held open only while the certificate's caller stands (a lock, a removed user or its
   * expiry closes it). A certificate narrowed to one app comes back with its route, which the
   * access pipeline checks against each target.
   */
  certificatePrincipal(conn: VerifiedConn): Principal | undefined {
    if (conn[VERIFIED]) return conn[VERIFIED];
    const socket: TLSSocket = conn.socket;
    const presented = socket.getPeerX509Certificate();
    if (!presented) return undefined;
    const principal: Principal = { ...callerFromIdentity(this.verifier.verify(presented, 'user')), via: 'certificate', fingerprint: presented.fingerprint256 };
    conn[VERIFIED] = principal;
    const release = this.access.hold({
      caller: principal,
      clientAddr: conn.clientAddr.address,
      revoke: (reason) => {
        conn.log.info('closing a connection: its certificate no longer stands', { user: principal.username, reason });
        abortStream(socket);
      },
    });
    if (socket.destroyed) release();
    else socket.once('close', release);
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
    return {
      kind: 'user',
      username: user.name,
      roles: user.roles,
      traits: user.traits,
      via,
      expires: new Date(session.expires),
      sessions: [{ kind: 'web', hash: tokenHash(secret) }],
      sessionSecret: secret,
      ...(session.kind === 'cli' ? { tunnelsOnly: true } : {}),
    };
  }
}
