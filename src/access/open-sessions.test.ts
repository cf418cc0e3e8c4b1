import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { AuditEventInput, AuditLog } from '../audit/audit-log.js';
import type { Authorizer } from '../auth/authorizer.js';
import { PosternError } from '../errors/postern-error.js';
import { silentLogger } from '../log/logger.js';
import { parseRoutePolicy } from '../policy/route-policy/index.js';
import { Access } from './access.js';
import type { Caller } from './caller.js';
import { OpenSessions } from './open-sessions.js';
import type { Standings } from './standing.js';

describe('the open sessions registry', () => {
  it('lists sessions oldest first, ends one through its owner once, and forgets removed ones', () => {
    const registry = new OpenSessions();
    const ended: string[] = [];
    const fields = { kind: 'route' as const, resource: 'db.example.com:5432', user: 'alice', clientAddr: '10.0.0.1', via: 'certificate', request: {} };
    const a = registry.add(fields, (reason) => (ended.push(`a: ${reason}`), ended.length === 1));
    const b = registry.add({ ...fields, user: 'bob' }, () => true);
    expect(registry.list().map((s) => s.user)).toEqual(['alice', 'bob']);
    expect(a.id).not.toBe(b.id);
    expect(a).toMatchObject({ bytesUp: 0, bytesDown: 0, started: expect.any(Date) });

    expect(registry.end(a.id, 'ended by root')).toBe(a);
    // Its owner says it is closing already: not reported as ended a second time.
    expect(registry.end(a.id, 'ended by root')).toBeUndefined();
    expect(ended).toEqual(['a: ended by root', 'a: ended by root']);
    expect(registry.end('no-such-id', 'x')).toBeUndefined();

    registry.remove(b.id);
    expect(registry.list().map((s) => s.user)).toEqual(['alice']);
  });
});

/** The pipeline with stand-ins for the stores: alice stands, her roles say nothing, and the route's policy lets signed-in users in. */
function pipeline(standingDelayMs = 0) {
  const events: AuditEventInput[] = [];
  const audit = { append: (input: AuditEventInput) => void events.push(input), emit: async (input: AuditEventInput) => void events.push(input) } as unknown as AuditLog;
  const of = async (caller: Caller) => {
    if (standingDelayMs) await new Promise((resolve) => setTimeout(resolve, standingDelayMs));
    return { ok: true, subject: { username: caller.username, roles: caller.roles, traits: {} } };
  };
  const standings = { of } as unknown as Standings;
  const authorizer = { checker: () => ({ checkResource: () => ({ allow: false, reasons: ['no role speaks of routes'] }), mfaRoles: () => [] }) } as unknown as Authorizer;
  const access = new Access({ standings, authorizer, audit, log: silentLogger });
  closers.push(() => void access.stop());
  return { access, events };
}

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

async function listening(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => server.close());
  return (server.address() as { port: number }).port;
}

/** alice through a route to echo.example.com:7, decided by the pipeline. */
async function routeAuthorization(access: Access): ReturnType<Access['authorize']> {
  const caller: Caller = { kind: 'user', username: 'alice', roles: ['access'], traits: {}, via: 'certificate', expires: new Date(Date.now() + 3_600_000) };
  const policy = parseRoutePolicy(parse('[{ allow: { and: [{ authenticated_user: true }] } }]'), 'policy');
  const authorization = await access.authorize({ caller, target: { kind: 'route', name: 'echo.example.com:7', labels: {}, policy }, clientAddr: '10.0.0.9', log: silentLogger });
  expect(authorization.allowed).toBe(true);
  return authorization;
}

/** alice, allowed through a route to an echo server, relayed by serveStream; the client is the far end of a loopback connection. */
async function echoSession(access: Access, failure?: () => string | undefined): Promise<{ client: Socket; serverSide: Socket }> {
  const echoPort = await listening(createServer((s) => s.pipe(s)));
  const front = createServer();
  const frontPort = await listening(front);
  const accepted = once(front, 'connection') as Promise<[Socket]>;
  const client = connect(frontPort, '127.0.0.1');
  closers.push(() => client.destroy());
  const [serverSide] = await accepted;
  const authorization = await routeAuthorization(access);
  await access.serveStream(authorization, { dial: async () => connect(echoPort, '127.0.0.1'), accept: () => serverSide!, fields: { authority: 'echo.example.com:7' }, ...(failure ? { failure } : {}) });
  return { client, serverSide: serverSide! };
}

describe('Access.serveStream and the open sessions', () => {
  it('lists a relayed session with live byte counts, and ending it closes the client at once with the reason in its end event', async () => {
    const { access, events } = pipeline();
    const { client } = await echoSession(access);

    client.write('hello');
    await once(client, 'data');
    const [open] = access.openSessions();
    expect(open).toMatchObject({ kind: 'route', resource: 'echo.example.com:7', user: 'alice', clientAddr: '10.0.0.9', via: 'certificate', bytesUp: 5, bytesDown: 5 });

    const closed = once(client, 'close');
    const started = Date.now();
    expect(access.endSession(open!.id, 'ended by an administrator (root)')).toBe(open);
    await closed;
    expect(Date.now() - started).toBeLessThan(1000);
    expect(access.openSessions()).toEqual([]);
    expect(access.endSession(open!.id, 'again')).toBeUndefined();
    await expect.poll(() => events.find((e) => e.event === 'route.tunnel.end')).toMatchObject({ user: 'alice', bytes_up: 5, bytes_down: 5, reason: 'revoked: ended by an administrator (root)' });
  });

  it('stop() waits for a session that is closing to write its end event (the audit log closes after it)', async () => {
    // The end is decided once more before it is written: a slow store makes that take a while.
    const { access, events } = pipeline(100);
    const { client, serverSide } = await echoSession(access);

    // What a shutting-down server does: its connections are destroyed, then the pipeline stops.
    serverSide.destroy();
    client.destroy();
    await once(serverSide, 'close');
    await access.stop();
    expect(events.find((e) => e.event === 'route.tunnel.end')).toMatchObject({ user: 'alice', reason: 'ended' });
  });

  it('audits a granted session that could not be opened, or that failed, with why', async () => {
    const { access, events } = pipeline();
    const authorization = await routeAuthorization(access);
    const refused = access.serveStream(authorization, {
      dial: async () => {
        throw new PosternError('TARGET_UNREACHABLE', 'the echo service is down');
      },
      accept: () => {
        throw new Error('not reached');
      },
      fields: { authority: 'echo.example.com:7' },
    });
    await expect(refused).rejects.toThrow('the echo service is down');
    await expect.poll(() => events.filter((e) => e.event.startsWith('route.tunnel.')).map((e) => [e.event, e.reason])).toEqual([
      ['route.tunnel.start', undefined],
      ['route.tunnel.end', 'failed: the echo service is down'],
    ]);

    const { client } = await echoSession(access, () => 'the far end refused the login');
    client.destroy();
    await expect.poll(() => events.filter((e) => e.event === 'route.tunnel.end').map((e) => e.reason)).toContain('failed: the far end refused the login');
  });
});
