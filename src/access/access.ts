import type { Duplex } from 'node:stream';
import { emitSoon, type AuditLog } from '../audit/audit-log.js';
import { SESSION_EVENTS, type StreamedKind } from '../audit/events.js';
import type { Authorizer } from '../auth/authorizer.js';
import { routeScopeProblem } from '../auth/verifier.js';
import type { ErrorCode } from '../errors/codes.js';
import { PosternError, toPosternError } from '../errors/postern-error.js';
import type { Logger } from '../log/logger.js';
import { abortStream, joinStreams } from '../net/pipe.js';
import type { AccessChecker } from '../policy/access-checker.js';
import type { Subject } from '../policy/traits.js';
import { kindSpec, type AccessRequest } from '../resources/table.js';
import type { Caller } from './caller.js';
import { decide, type AccessDecision, type AccessTarget } from './decide.js';
import { LiveGrants, type Grant } from './live-grants.js';
import { OpenSessions, type OpenSession } from './open-sessions.js';
import type { Standing, Standings } from './standing.js';

export interface AuthorizeInput {
  /** Who asks; none for a request without identity (only a route's policy can allow one). */
  caller?: Caller;
  target: AccessTarget;
  /** The target as it stands now, for targets whose labels can change while a session is open. */
  current?: () => AccessTarget | undefined;
  request?: AccessRequest;
  /** The client's address (from PROXY protocol when there is one). */
  clientAddr: string;
  /** The connection's or request's logger: the authorize line goes there, with its context. */
  log: Logger;
}

/** A decision made for a connection or request: what was asked, who asked as they stand now, and the answer. */
export class Authorization {
  constructor(
    readonly input: AuthorizeInput,
    readonly decision: AccessDecision,
    /** The subject as it stands now; absent when there is no caller or its standing refused it. */
    readonly subject: Subject | undefined,
    /** The live grants' generation when it was decided (Access.hold). */
    readonly generation: number,
  ) {}

  get allowed(): boolean {
    return this.decision.allow;
  }

  /** Who the refusal names: the user, or "this client" for a request without identity. */
  get who(): string {
    return this.subject?.username ?? this.input.caller?.username ?? 'this client';
  }

  /**
   * The refusal as the error the client gets: what may not be reached, by whom, and why.
   * `mayNot` words it for the protocol ("may not log in to web-1 as root").
   */
  error(mayNot = `may not reach ${describe(this.input.target, this.input.request)}`): PosternError {
    const code: ErrorCode = this.decision.code ?? 'ACCESS_DENIED';
    const reasons = this.decision.reasons.join('; ');
    if (code !== 'ACCESS_DENIED' && code !== 'MFA_REQUIRED' && code !== 'UNAUTHENTICATED') return refusedOutright(code, reasons);
    if (code === 'UNAUTHENTICATED' && !this.input.caller) return new PosternError(code, `sign in to reach ${describe(this.input.target)}: ${reasons}`);
    return new PosternError(code, `${this.who} ${mayNot}: ${reasons}${FIXES[code] ?? ''}`);
  }
}

/** A refusal that is about the caller, not the target (a lock, an expired credential), as the client gets it. */
function refusedOutright(code: ErrorCode, reason: string): PosternError {
  return new PosternError(code, `access refused: ${reason}${FIXES[code] ?? ''}`);
}

/** authorize() for a target that must be looked up first: what it is, and how to find it. */
export type LookupInput = Omit<AuthorizeInput, 'target'> & { target: Pick<AccessTarget, 'kind' | 'name'>; find(): Promise<AccessTarget> };

/** What to do next, after a refusal's reasons. */
const FIXES: Partial<Record<ErrorCode, string>> = {
  LOCKED: '; ask an administrator (postern ctl get locks)',
  CERT_EXPIRED: '; run `postern login` to get a new one',
  UNAUTHENTICATED: '; log in again (postern login, or sign in at /web)',
};

/** What a caller may reach, for lists: decisions made the one way, neither logged nor audited. */
export interface View {
  subject: Subject;
  checker: AccessChecker;
  decide(target: AccessTarget, request?: AccessRequest): AccessDecision;
}

/** A relayed session's two ends, opened once access is granted. */
export interface StreamSession {
  /** Opens the upstream through the resource kind's connector (a tunnel to its agent, a dial from the proxy). */
  dial(): Promise<Duplex>;
  /** Answers the client (an ok line, a 200) once the upstream is open, and returns the client's byte stream. */
  accept(): Duplex;
  /** Fields of the session's audit events besides who, from where, bytes and duration. */
  fields?: Record<string, unknown>;
  /**
   * See the bytes each way, in order, without changing them (a database's query audit, its
   * session key). `fromClient` may instead stop the session before a chunk goes on (a command
   * that would change who is logged in, one the proxy carries out itself): `answer` goes to the
   * client, and the session ends.
   */
  inspect?: { fromClient?(chunk: Buffer): StreamStop | void; fromUpstream?(chunk: Buffer): void };
  /**
   * Why the session failed, when it did in a way the bytes do not show (the browser terminal's
   * SSH handshake refused the node's host key): its end event's reason is then `failed: …`.
   */
  failure?(): string | undefined;
  /** Told once both ends are closed (also when the client left while the upstream was dialled). */
  onEnd?(stats: StreamStats): void;
}

/** Why a session stops at a client's chunk, and the protocol's error message that says so to the client. */
export interface StreamStop {
  reason: string;
  answer: Buffer;
}

export interface StreamStats {
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
  /** Why access was taken away, when it was. */
  revoked?: string;
}

export interface AccessDeps {
  standings: Standings;
  authorizer: Authorizer;
  audit: AuditLog;
  log: Logger;
}

/**
 * The one access pipeline. Every protocol handler parses its own opening bytes, then calls
 * authorize() (the caller as it stands now, one decision with its reasons, one authorize log
 * line and one audit event, allowed or not) and, for a byte stream, serveStream() (dial, relay
 * with byte counts, session audit events, and a live grant that ends the session within a second
 * of a lock, a role or user change, an ended session or an expired certificate). No handler
 * decides or relays on its own.
 */
export class Access {
  private readonly grants: LiveGrants;
  private readonly sessions = new OpenSessions();
  /** Relayed sessions whose end event is not written yet (stop() waits for them). */
  private readonly unfinished = new Set<Promise<void>>();

  constructor(private readonly deps: AccessDeps) {
    this.grants = new LiveGrants((grant) => this.recheck(grant), deps.log);
  }

  /** Open grants are decided again whenever this source reports a change (locks, roles, users, sessions, resources). */
  watch(subscribe: (listener: () => void) => unknown): void {
    subscribe(() => this.grants.changed());
  }

  /** Grants held now (sessions, tunnels, connections with certificates). */
  get held(): number {
    return this.grants.size;
  }

  /** The relayed sessions open in this process now (serveStream's), oldest first. */
  openSessions(): OpenSession[] {
    return this.sessions.list();
  }

  /**
   * Ends an open session through its live grant, as a lock would: the client is cut off at once
   * and the session's end event says `revoked: <reason>`. Returns the session, or undefined when
   * this process has none open with that id. Whoever may end it is the caller's to check.
   */
  endSession(id: string, reason: string): OpenSession | undefined {
    return this.sessions.end(id, reason);
  }

  standing(caller: Caller): Promise<Standing> {
    return this.deps.standings.of(caller);
  }

  /**
   * The caller as it stands now; throws its refusal (locked, removed, expired, session ended) as
   * the error for the client. With `at` (what was asked for, from where), the refusal is also
   * logged and audited, as authorize() does for resources.
   */
  async admit(caller: Caller, at?: { what: string; clientAddr: string; log: Logger }): Promise<Subject> {
    const standing = await this.standing(caller);
    if (standing.ok) return standing.subject;
    if (at) {
      at.log.info('authorize', { user: caller.username, kind: 'api', resource: at.what, allow: false, reasons: [standing.reason], code: standing.code });
      await this.deps.audit.emit({ event: 'access.denied', user: caller.username, remote_addr: at.clientAddr, kind: 'api', resource: at.what, reasons: [standing.reason], via: caller.via, code_name: standing.code });
    }
    throw refusedOutright(standing.code, standing.reason);
  }

  /**
   * The subject as it stands now and a checker for its roles, for listing what it may reach
   * (apps, nodes and their logins); throws the standing's refusal.
   */
  async view(caller: Caller, clientAddr = ''): Promise<View> {
    const subject = await this.admit(caller);
    const checker = this.deps.authorizer.checker(subject);
    return { subject, checker, decide: (target, request) => decide({ subject, checker, target, ...(request ? { request } : {}), sourceIp: clientAddr }) };
  }

  /** The decision without logging or auditing it: for lists and previews, never to let a connection through. */
  async check(input: Omit<AuthorizeInput, 'log'>): Promise<AccessDecision> {
    return (await this.evaluate(input)).decision;
  }

  /** Decides a connection or request, logs the decision and audits it. */
  authorize(input: AuthorizeInput): Promise<Authorization> {
    return this.evaluate(input).then((authorization) => this.record(authorization));
  }

  /**
   * authorize() for a handler that must look its target up before it can decide (a node, an app
   * behind an agent): a caller that does not stand (locked, removed, expired) is refused, logged
   * and audited, before `find` runs, so it learns nothing of whether the target exists. What
   * `find` throws (no such node, its agent offline) is the handler's to answer.
   */
  async authorizeLookup(input: LookupInput): Promise<Authorization> {
    const { find, ...rest } = input;
    return this.record(await this.evaluate({ ...rest, target: { ...input.target, labels: {} } }, find));
  }

  /** Logs and audits a decision. */
  private async record(authorization: Authorization): Promise<Authorization> {
    const { decision, subject, input } = authorization;
    const { target, request = {}, caller } = input;
    const asked = { ...(request.login ? { login: request.login } : {}), ...(request.dbUser ? { db_user: request.dbUser } : {}), ...(request.dbName ? { db_name: request.dbName } : {}) };
    const user = subject?.username ?? caller?.username;
    input.log.info('authorize', { user, kind: target.kind, resource: target.name, ...asked, allow: decision.allow, reasons: decision.reasons, ...(decision.code ? { code: decision.code } : {}) });
    // Refusals of callers without identity stay out of the audit log: anyone can make them, as many
    // as they like. A grant is written in the next batch, a refusal before the client hears of it.
    if (decision.allow || caller) {
      const event = {
        event: decision.allow ? ('access.granted' as const) : ('access.denied' as const),
        user,
        remote_addr: input.clientAddr,
        kind: target.kind,
        resource: target.name,
        ...asked,
        reasons: decision.reasons,
        via: caller?.via ?? 'none',
        ...(decision.code ? { code_name: decision.code } : {}),
      };
      if (decision.allow) emitSoon(this.deps.audit, event, this.deps.log);
      else await this.deps.audit.emit(event);
    }
    return authorization;
  }

  /**
   * Relays an authorized byte stream: dials the upstream, answers the client, counts bytes, writes
   * the kind's session start and end events, and holds a live grant for as long as it is open.
   * Rejects when the upstream cannot be reached (the handler answers in its own protocol).
   */
  async serveStream(authorization: Authorization, session: StreamSession): Promise<void> {
    if (!authorization.allowed) throw authorization.error();
    const { input, subject } = authorization;
    const events = SESSION_EVENTS[input.target.kind as StreamedKind];
    if (!events) throw new PosternError('INTERNAL', `no session audit events for ${input.target.kind}; add them to SESSION_EVENTS (src/audit/events.ts)`);
    const base = { user: subject?.username, remote_addr: input.clientAddr, ...session.fields };
    const via = input.caller?.via ?? 'none';
    let upstream: Duplex;
    try {
      upstream = await session.dial();
    } catch (err) {
      // Granted, and could not be opened (its agent offline, the node's host key unknown): in the
      // audit log as a session that failed at once, with why.
      emitSoon(this.deps.audit, { event: events.start, ...base, via }, this.deps.log);
      emitSoon(this.deps.audit, { event: events.end, ...base, bytes_up: 0, bytes_down: 0, duration_ms: 0, reason: `failed: ${toPosternError(err).message}` }, this.deps.log);
      throw err;
    }
    const client = session.accept();
    if (client.destroyed) {
      upstream.destroy();
      return session.onEnd?.({ bytesUp: 0, bytesDown: 0, durationMs: 0 });
    }
    const started = performance.now();
    let revoked: string | undefined;
    const { fromClient, fromUpstream } = session.inspect ?? {};
    let stopped: string | undefined;
    const grant: Grant = {
      ...(input.caller ? { caller: input.caller } : {}),
      target: input.target,
      ...(input.current ? { current: input.current } : {}),
      ...(input.request ? { request: input.request } : {}),
      clientAddr: input.clientAddr,
      revoke: (reason) => {
        revoked = reason;
        input.log.info('closing a session: its access was revoked', { user: base.user, kind: input.target.kind, resource: input.target.name, reason });
        abortStream(client);
      },
    };
    // Listed (with live byte counts) while open; ending it from the console revokes its grant.
    const open = this.sessions.add(
      {
        kind: input.target.kind as StreamedKind,
        resource: input.target.name,
        ...(subject ? { user: subject.username } : {}),
        clientAddr: input.clientAddr,
        via: input.caller?.via ?? 'none',
        request: input.request ?? {},
      },
      (reason) => this.grants.revoke(grant, reason),
    );
    client.on('data', (d: Buffer) => {
      if (stopped) return;
      open.bytesUp += d.length;
      const stop = fromClient?.(d);
      if (!stop) return;
      // Registered before joinStreams pipes: the upstream is gone before this chunk would be written to it.
      stopped = stop.reason;
      input.log.info('stopped a session at a command the proxy does not pass on', { user: subject?.username, kind: input.target.kind, resource: input.target.name, reason: stop.reason });
      // Unpiping pauses the client (so would the pipe's own cleanup when the upstream closes): kept
      // reading, it sees the peer's close, or the session would end only at the drain deadline.
      client.unpipe(upstream);
      client.resume();
      client.end(stop.answer);
      upstream.destroy();
    });
    upstream.on('data', (d: Buffer) => {
      open.bytesDown += d.length;
      fromUpstream?.(d);
    });
    emitSoon(this.deps.audit, { event: events.start, ...base, via }, this.deps.log);
    const release = this.hold(grant, authorization.generation);
    let finished!: () => void;
    const unfinished = new Promise<void>((resolve) => (finished = resolve));
    this.unfinished.add(unfinished);
    void unfinished.then(() => this.unfinished.delete(unfinished));
    joinStreams(client, upstream, () => {
      release();
      this.sessions.remove(open.id);
      const { bytesUp, bytesDown } = open;
      void (async () => {
        // A session can also end because what carries it was closed for the same change (the
        // connection of a revoked certificate): decided once more, the end says why either way.
        revoked ??= await this.recheck(grant).catch(() => undefined);
        const stats: StreamStats = { bytesUp, bytesDown, durationMs: Math.round(performance.now() - started), ...(revoked ? { revoked } : {}) };
        emitSoon(this.deps.audit, { event: events.end, ...base, bytes_up: bytesUp, bytes_down: bytesDown, duration_ms: stats.durationMs, reason: endReason(revoked, stopped, session.failure?.()) }, this.deps.log);
        session.onEnd?.(stats);
      })().finally(finished);
    });
  }

  /**
   * Keeps a grant live: it is decided again on every change and revoked the moment it no longer
   * holds. `decidedAt` (an Authorization's generation, or `generation` read before an await)
   * makes it decided again at once if something changed since. Returns the release.
   */
  hold(grant: Grant, decidedAt?: number): () => void {
    return this.grants.hold(grant, decidedAt);
  }

  /** Where the live grants are in their changes: read it before deciding, pass it to hold(). */
  get generation(): number {
    return this.grants.generation;
  }

  /**
   * Stops deciding grants again, then waits (at most `graceMs`) for the sessions still closing to
   * write their end events: the server closes its connections first and the audit log after this.
   */
  async stop(graceMs = 2000): Promise<void> {
    this.grants.stop();
    if (this.unfinished.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.all(this.unfinished), late]);
    clearTimeout(timer);
  }

  /** The caller's standing, then (with `find`, once it stands) the target, then the decision. */
  private async evaluate(input: Omit<AuthorizeInput, 'log'>, find?: () => Promise<AccessTarget>): Promise<Authorization> {
    const generation = this.generation;
    const standing = input.caller ? await this.standing(input.caller) : undefined;
    if (standing && !standing.ok) return new Authorization(input as AuthorizeInput, { allow: false, reasons: [standing.reason], code: standing.code }, undefined, generation);
    const found = find ? { ...input, target: await find() } : input;
    return new Authorization(found as AuthorizeInput, this.decideFor(found, standing?.subject), standing?.subject, generation);
  }

  /** Why an open grant no longer holds, or undefined while it does. */
  private async recheck(grant: Grant): Promise<string | undefined> {
    const standing = grant.caller ? await this.standing(grant.caller) : undefined;
    if (standing && !standing.ok) return standing.reason;
    if (!grant.target) return undefined;
    const decision = this.decideFor({ ...grant, target: grant.current?.() ?? grant.target }, standing?.subject);
    return decision.allow ? undefined : decision.reasons.join('; ');
  }

  /** The decision for a subject as it stands: a certificate narrowed to another resource is refused, the rest is decide()'s. */
  private decideFor(input: Pick<AuthorizeInput, 'caller' | 'target' | 'request' | 'clientAddr'>, subject: Subject | undefined): AccessDecision {
    const { caller, target } = input;
    const outside = routeScopeProblem(caller?.route, target);
    if (outside) return { allow: false, reasons: [outside], code: 'ACCESS_DENIED' };
    return decide({ ...(subject ? { subject, checker: this.deps.authorizer.checker(subject) } : {}), target, ...(input.request ? { request: input.request } : {}), sourceIp: input.clientAddr });
  }
}

/** `node "web-1" as login "root"`, `route "ssh.example.com:22"`. */
function describe(target: AccessTarget, request: AccessRequest = {}): string {
  const asked = [request.login && `login "${request.login}"`, request.dbUser && `database user "${request.dbUser}"`, request.dbName && `database "${request.dbName}"`].filter(Boolean);
  return `${kindSpec(target.kind).noun} "${target.name}"${asked.length ? ` as ${asked.join(' and ')}` : ''}`;
}

/** A session's end, as its end event says it: revoked, stopped at a command, failed, or ended. */
function endReason(revoked: string | undefined, stopped: string | undefined, failed: string | undefined): string {
  if (revoked) return `revoked: ${revoked}`;
  if (stopped) return `stopped: ${stopped}`;
  return failed ? `failed: ${failed}` : 'ended';
}
