import type { AuditEventInput, AuditLog } from '../audit/audit-log.js';
import { SshHostKeys } from './ssh-host-keys.js';
import { AppSessions } from './app-sessions.js';
import { PosternError } from '../errors/postern-error.js';
import { issueCertificate } from '../pki/authority.js';
import { importClientKey } from '../pki/client-key.js';
import type { Identity, Route } from '../pki/identity.js';
import { AccessChecker } from '../policy/access-checker.js';
import type { Role } from '../policy/role.js';
import type { Backend } from '../storage/backend.js';
import type { ClusterState } from './cluster-state.js';
import { JoinTokens } from './join-tokens.js';
import { Locks, lockMatches, lockedError } from './locks.js';
import { decoyHash, verifyPassword } from './password.js';
import { LoginFailures } from './login-failures.js';
import { LoginLimiter } from './login-limiter.js';
import { Roles } from './roles.js';
import { verifyTotp } from './totp.js';
import { UserTokens } from './user-tokens.js';
import { Users, type User } from './users.js';
import { WebSessions } from './web-sessions.js';

/** The audited reason for a replayed one-time code, and the one failure the caller is told apart. */
const CODE_REUSED = 'one-time code already used';

export interface AuthSettings {
  secondFactor: 'otp' | 'off';
  /** Default certificate lifetime; roles' max_session_ttl caps it. */
  certTtlMs: number;
  /** Where people reach the proxy, for links (invites) and messages. */
  publicUrl: string;
  /**
   * The proxy serves a certificate from the cluster's own host CA (not certificate files, not
   * ACME): a first `postern login` must pin it, so the commands the server prints carry --ca-pin.
   */
  ownCertificate?: boolean;
}

/** The `postern login` command for a person, as the server prints it (with --ca-pin when the proxy's certificate needs one). */
export function loginCommand(auth: { settings: AuthSettings; cluster: { authorities: { host: { pin: string } } } }, user: string): string {
  const pin = auth.settings.ownCertificate ? ` --ca-pin=${auth.cluster.authorities.host.pin}` : '';
  return `postern login --proxy=${new URL(auth.settings.publicUrl).host} --user=${user}${pin}`;
}

export interface LoginRequest {
  user: string;
  password: string;
  otp?: string;
  remoteAddr: string;
  /** How the person logged in, for the audit log. */
  method: 'cli' | 'web';
}

export interface UserCertificate {
  certPem: string;
  expires: Date;
  roles: string[];
  traits: Record<string, string[]>;
}

/**
 * The auth side of Postern: who people are (users, credentials, sessions), what they may do
 * (roles, locks), the tokens that let people and agents in, and the certificates that prove it.
 * The server and a local `postern ctl` each make one over the same storage.
 */
export class AuthService {
  readonly users: Users;
  readonly userTokens: UserTokens;
  readonly joinTokens: JoinTokens;
  readonly roles: Roles;
  readonly locks: Locks;
  readonly sessions: WebSessions;
  readonly appSessions: AppSessions;
  readonly sshHostKeys: SshHostKeys;
  private readonly limiter = new LoginLimiter();
  /** Failed logins the whole cluster saw (several proxies on one store). */
  private readonly failures: LoginFailures;
  /** When a refused, rate-limited attempt was last audited, per user and address. */
  private readonly limitedAudited = new Map<string, number>();

  constructor(
    readonly backend: Backend,
    readonly cluster: ClusterState,
    readonly audit: AuditLog,
    readonly settings: AuthSettings,
  ) {
    this.users = new Users(backend);
    this.failures = new LoginFailures(backend);
    this.userTokens = new UserTokens(backend);
    this.joinTokens = new JoinTokens(backend);
    this.roles = new Roles(backend);
    this.locks = new Locks(backend);
    this.sessions = new WebSessions(backend);
    this.appSessions = new AppSessions(backend);
    this.sshHostKeys = new SshHostKeys(backend);
  }

  /**
   * Checks a password and one-time code. Every failure is audited with its reason, but the caller
   * only ever hears "wrong user, password or code", so a failure never tells who exists. The one
   * exception is a code that was used already: that is said as such, because only someone with the
   * right password and a code the user's authenticator showed moments ago gets that far, and they
   * need to know to wait for the next code rather than retype a password that was right.
   */
  async login(req: LoginRequest): Promise<User> {
    const elsewhere = await this.failures.retryAfter(req.user, req.remoteAddr);
    const attempt = elsewhere > 0 ? elsewhere : this.limiter.begin(req.user, req.remoteAddr);
    if (typeof attempt === 'number') {
      // Audited once a minute per user and address: a flood of refused attempts must not flood the audit log.
      const key = `${req.user}\0${req.remoteAddr}`;
      const last = this.limitedAudited.get(key) ?? 0;
      if (Date.now() - last >= 60_000) {
        if (this.limitedAudited.size >= 10_000) this.limitedAudited.clear();
        this.limitedAudited.set(key, Date.now());
        await this.auditFailure(req, 'rate limited');
      }
      throw new PosternError('RATE_LIMITED', `too many failed logins; try again in ${Math.ceil(attempt / 60_000)} min`);
    }
    // Asked before anything is checked, so that leaving the code out cannot test a password.
    if (this.settings.secondFactor !== 'off' && !req.otp) {
      attempt.withdrawn();
      throw new PosternError('OTP_REQUIRED', 'this cluster asks for a one-time code from your authenticator app with the password: pass --otp CODE, or answer the prompt');
    }
    const user = await this.users.get(req.user);
    const creds = user && (await this.users.getCredentials(user.name));
    const passwordOk = await verifyPassword(req.password, creds?.password_hash ?? (await decoyHash()));
    const reason = !user ? 'unknown user' : !creds?.password_hash ? 'no password set (invite not used yet)' : !passwordOk ? 'wrong password' : await this.secondFactorProblem(user, req.otp, creds?.totp_secret);
    if (reason) {
      await this.failures.record(req.user, req.remoteAddr);
      await this.auditFailure(req, reason);
      if (reason === CODE_REUSED) throw new PosternError('OTP_REUSED', 'login refused: that one-time code was used already, and each code works only once; wait until your authenticator app shows the next code, then log in with it');
      throw new PosternError('LOGIN_FAILED', 'login refused: wrong user name, password or one-time code');
    }
    attempt.succeeded();
    await this.failures.forgetPair(req.user, req.remoteAddr);
    const lock = await this.findLock(user!);
    if (lock) {
      await this.auditFailure(req, 'locked');
      throw lockedError(lock);
    }
    await this.audit.emit({ event: 'user.login', user: user!.name, remote_addr: req.remoteAddr, method: req.method });
    return user!;
  }

  /** Issues a user certificate for a public key the client made (PEM SPKI, ECDSA P-256). */
  async issueUserCertificate(user: User, publicKeyPem: string, requestedTtlMs: number | undefined, remoteAddr: string): Promise<UserCertificate> {
    const ttlMs = await this.sessionTtl(user, requestedTtlMs);
    return this.issueFor({ username: user.name, roles: user.roles, traits: user.traits }, publicKeyPem, ttlMs, remoteAddr);
  }

  /**
   * A certificate for an identity already established (a login, or a certificate the verifier
   * accepted), optionally narrowed to one resource (`route`): `postern apps login` makes those.
   */
  async issueFor(subject: Pick<Identity, 'username' | 'roles' | 'traits'>, publicKeyPem: string, ttlMs: number, remoteAddr: string, route?: Route): Promise<UserCertificate> {
    const cert = await issueCertificate(this.cluster.authorities.user, {
      publicKey: await importClientKey(publicKeyPem),
      commonName: subject.username,
      ttlMs,
      usage: 'client',
      identity: { kind: 'user', roles: subject.roles, traits: subject.traits, ...(route ? { route } : {}) },
    });
    await this.audit.emit({ event: 'cert.issued', user: subject.username, remote_addr: remoteAddr, cert_kind: 'user', ttl: `${Math.round(ttlMs / 1000)}s`, roles: subject.roles, serial: cert.serialNumber, ...(route ? { route } : {}) });
    return { certPem: cert.toString('pem'), expires: cert.notAfter, roles: subject.roles, traits: subject.traits };
  }

  /** The lifetime of a certificate or session: as asked (or the default), capped by the roles. */
  async sessionTtl(user: User, requestedMs?: number): Promise<number> {
    const cap = (await this.checkerFor({ username: user.name, roles: user.roles, traits: user.traits })).maxSessionTtl();
    return Math.min(requestedMs ?? this.settings.certTtlMs, this.settings.certTtlMs, cap ?? Infinity);
  }

  /** A checker for a subject with the roles as they are in storage now. */
  async checkerFor(subject: { username: string; roles: string[]; traits: Record<string, string[]> }): Promise<AccessChecker> {
    return new AccessChecker(subject, await this.resolveRoles(subject.roles));
  }

  async resolveRoles(names: readonly string[]): Promise<Role[]> {
    const out: Role[] = [];
    for (const n of names) {
      const role = await this.roles.get(n);
      if (role) out.push(role);
    }
    return out;
  }

  async findLock(user: Pick<User, 'name' | 'roles'>) {
    return (await this.locks.list()).find((l) => (!l.expires || Date.parse(l.expires) > Date.now()) && lockMatches(l, { username: user.name, roles: user.roles }));
  }

  emit(event: AuditEventInput): Promise<unknown> {
    return this.audit.emit(event);
  }

  private async secondFactorProblem(user: User, otp: string | undefined, secret: string | undefined): Promise<string | undefined> {
    if (this.settings.secondFactor === 'off') return undefined;
    if (!secret) return 'no one-time code app enrolled';
    if (!otp) return 'one-time code missing';
    const step = verifyTotp(secret, otp);
    if (step === undefined) return 'wrong one-time code';
    if (!(await this.users.consumeTotpStep(user.name, step))) return CODE_REUSED;
    return undefined;
  }

  private async auditFailure(req: LoginRequest, reason: string): Promise<void> {
    await this.audit.emit({ event: 'user.login.failed', user: req.user, remote_addr: req.remoteAddr, method: req.method, reason });
  }
}
