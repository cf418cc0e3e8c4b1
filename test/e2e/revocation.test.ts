import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessFixture, reachRole, type Member } from '../helpers/access-fixture.js';
import { haveProgram } from '../helpers/programs.js';
import { tempDir, type RunResult } from '../helpers/postern.js';

const tools = haveProgram('ssh', ['-V']) && haveProgram('/usr/sbin/sshd', ['-V']) && haveProgram('curl', ['--version']);

/** What takes access away, how an administrator does it, and what the next connection is told. */
const TRIGGERS: [what: string, trigger: (f: AccessFixture, m: Member) => Promise<RunResult>, refusal: RegExp][] = [
  ['a lock on the user', (f, m) => f.cluster.ctl(['lock', '--user', m.name, '--message', 'incident 9']), /locked: incident 9/],
  [
    'the role edited to drop the resources',
    (f, m) => {
      const file = join(tempDir(), 'role.yaml');
      writeFileSync(file, reachRole(`role-${m.name}`, 'prod'));
      return f.cluster.ctl(['create', '-f', file]);
    },
    /no role allows .*role role-\w+ needs env=prod/,
  ],
  ["the user's roles removed (users update --roles=)", (f, m) => f.cluster.ctl(['users', 'update', m.name, '--roles=']), /has no roles/],
  ['the user removed (users rm)', (f, m) => f.cluster.ctl(['users', 'rm', m.name]), /user \w+ no longer exists/],
];

describe.runIf(tools)('taking access away ends open sessions of every protocol within a second, and refuses the next', () => {
  let fixture: AccessFixture;
  beforeAll(async () => {
    fixture = await AccessFixture.start();
  });
  afterAll(async () => {
    await fixture?.stop();
  });

  it.each(TRIGGERS)('%s', async (_what, trigger, refusal) => {
    const member = await fixture.person(`u${Math.random().toString(36).slice(2, 8)}`);
    const sessions = await member.open();
    const heldBefore = await fixture.grantsHeld();
    const changed = await trigger(fixture, member);
    expect(changed.code, changed.stderr).toBe(0);
    const changedAt = Date.now(); // when the ctl command returned, as an administrator sees it
    const closed = await Promise.all(sessions.map((s) => s.closed));
    sessions.forEach((s, i) => expect(closed[i]!.at - changedAt, `${s.protocol} closed ${closed[i]!.at - changedAt} ms after the change (${closed[i]!.seen})`).toBeLessThan(1000));
    // The proxy let go of them: its gauge of live grants fell by at least the four relayed sessions.
    expect(await fixture.grantsHeld()).toBeLessThanOrEqual(heldBefore - 4);

    // The next connection of every kind is refused; the command-line clients say why.
    const again = await member.tryAgain();
    expect(again['CONNECT route']).toMatch(/^exit [1-9]\d*: .*refused \(HTTP 40[13]/);
    expect(again['CONNECT route']).toMatch(refusal);
    expect(again['SSH session']).toMatch(/^exit [1-9]\d*: /);
    expect(again['SSH session']).toMatch(refusal);
    expect(again['TCP app']).toMatch(/^refused; the listener said: .*/);
    expect(again['TCP app']).toMatch(refusal);
    expect(again['app WebSocket']).toMatch(/^HTTP 40[13]: /);
    expect(again['app HTTP stream']).toMatch(/^HTTP 40[13]$/);
    for (const said of Object.values(again)) expect(said).not.toMatch(/undefined/);

    // Every closed session is in the audit log with why it was closed, and so are the refusals.
    const audit = await fixture.cluster.ctl(['audit', 'ls', '--format', 'json', '--user', member.name, '--type', 'route.tunnel.end', '--type', 'ssh.session.end', '--type', 'app.connection.end', '--type', 'access.denied', '--type', 'app.session.end']);
    const events = audit.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; reason?: string; reasons?: string[]; resource?: string; app?: string });
    const ends = events.filter((e) => e.event !== 'access.denied' && e.event !== 'app.session.end');
    expect(ends.map((e) => e.event).sort()).toEqual(['app.connection.end', 'app.connection.end', 'route.tunnel.end', 'ssh.session.end']);
    for (const end of ends) expect(end.reason, JSON.stringify(end)).toMatch(/^revoked: /);
    expect(ends.map((e) => e.reason!.slice('revoked: '.length)).every((r) => refusal.test(r))).toBe(true);
    // The refusals: the command-line clients' and the WebSocket's. When the user is gone, the
    // WebSocket's app session may be ended (and audited, with why: the user, or with it their web
    // session, is gone) before a decision is made, and the retry refused as having no session.
    const denied = events.filter((e) => e.event === 'access.denied');
    const refused = new Set(denied.map((e) => e.resource));
    if (events.some((e) => e.event === 'app.session.end' && e.app === 'chat' && /^the (user was removed|web session ended)$/.test(e.reason ?? ''))) refused.add('chat');
    expect([...refused].sort()).toEqual(['chat', 'echo', 'echo.example.com:7', 'web-1']);
    for (const d of denied) expect(d.reasons!.join('; ')).toMatch(refusal);
  });

  it('lets a role deny on route_labels refuse a route whose inline policy allows, and names the rule', async () => {
    const denying = await fixture.person('victor', reachRole('role-victor', 'dev') + '  deny:\n    route_labels: { env: secret }\n');
    const allowed = await fixture.person('wendy');
    const through = (m: Member) => m.person.run(['tcp', '--listen', '-', 'vault.example.com:7'], 'ping\n');
    expect((await through(allowed)).stdout).toBe('ping\n');
    const refused = await through(denying);
    expect(refused.code).toBe(77);
    expect(refused.stderr).toContain('refused (HTTP 403, access_denied): victor may not reach vault.example.com:7: role role-victor denies route "vault.example.com:7": deny route_labels env=secret matches (env: secret)\n');
    const audit = await fixture.cluster.ctl(['audit', 'ls', '--format', 'json', '--user', 'victor', '--type', 'access.denied']);
    expect(JSON.parse(audit.stdout.trim().split('\n').at(-1)!)).toMatchObject({ kind: 'route', resource: 'vault.example.com:7', code_name: 'ACCESS_DENIED', reasons: [expect.stringMatching(/^role role-victor denies route/)] });
  });

});
