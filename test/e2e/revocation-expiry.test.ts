import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessFixture, reachRole } from '../helpers/access-fixture.js';
import { haveProgram } from '../helpers/programs.js';
import { run } from '../helpers/postern.js';

const tools = haveProgram('ssh', ['-V']) && haveProgram('/usr/sbin/sshd', ['-V']) && haveProgram('curl', ['--version']);

// Its own file, so that the minute it waits for a certificate to expire runs beside the other suites.
describe.runIf(tools)('an expiring credential ends open sessions of every protocol within a second, and refuses the next', () => {
  let fixture: AccessFixture;
  beforeAll(async () => {
    fixture = await AccessFixture.start();
  });
  afterAll(async () => {
    await fixture?.stop();
  });

  it('closes each session at its certificate or browser session expiry', { timeout: 150_000 }, async () => {
    // The role caps certificates and sessions at the shortest lifetime a role may set.
    const member = await fixture.person('xavier', reachRole('role-xavier', 'dev', 'max_session_ttl: 1m'));
    expect(member.expires.certificate - Date.now()).toBeLessThanOrEqual(60_000);
    const sessions = await member.open();
    const closed = await Promise.all(sessions.map((s) => s.closed));
    sessions.forEach((s, i) => {
      // The app's WebSocket and HTTP stream live on the browser's session; the others on the login certificate.
      const expiry = s.protocol.startsWith('app ') ? member.expires.session : member.expires.certificate;
      const after = closed[i]!.at - expiry;
      expect(after, `${s.protocol} closed ${after} ms after its credential expired (${closed[i]!.seen})`).toBeGreaterThanOrEqual(-100);
      expect(after, `${s.protocol} closed ${after} ms after its credential expired (${closed[i]!.seen})`).toBeLessThan(1000);
    });

    // The next connections: the expired certificate itself (curl through the CONNECT route), and each client.
    const profile = join(member.person.home, 'profiles', `postern.localhost-${fixture.cluster.server.proxyPort}`);
    const curl = await run('curl', ['-sS', '--proxy', `https://postern.localhost:${fixture.cluster.server.proxyPort}`, '--proxy-cacert', fixture.caFile, '--proxy-cert', join(profile, 'cert.pem'), '--proxy-key', join(profile, 'key.pem'), '--proxytunnel', '--max-time', '5', '-v', 'telnet://echo.example.com:7']);
    expect(curl.stderr).toMatch(/< HTTP\/1\.1 401 Unauthorized/);
    // (`postern tcp` itself would not present an expired certificate: it would offer to sign in.)
    const again = await member.tryAgain(['SSH session', 'TCP app', 'app WebSocket', 'app HTTP stream']);
    expect(again['SSH session']).toMatch(/^exit 77: .*expired at .*run `postern login`/);
    expect(again['TCP app']).toMatch(/^refused; the listener said: .*expired/);
    expect(again['app WebSocket']).toMatch(/^HTTP 401: /);
    expect(again['app HTTP stream']).toBe('HTTP 401');

    const audit = await fixture.cluster.ctl(['audit', 'ls', '--format', 'json', '--user', 'xavier', '--type', 'route.tunnel.end', '--type', 'ssh.session.end', '--type', 'app.connection.end']);
    const ends = audit.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; reason: string });
    expect(ends).toHaveLength(4);
    for (const end of ends) expect(end.reason).toMatch(/^revoked: the (certificate|app session) of xavier expired at /);
  });
});
