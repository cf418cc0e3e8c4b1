import { describe, expect, it } from 'vitest';
import { splitSshArgs, sshFailure } from './ssh.js';

describe('splitSshArgs', () => {
  it.each([
    [['web-1'], [], 'web-1', []],
    [['root@web-1', 'uptime'], [], 'root@web-1', ['uptime']],
    [['-L', '8080:localhost:80', '-N', 'root@web-1'], ['-L', '8080:localhost:80', '-N'], 'root@web-1', []],
    [['-L8080:localhost:80', 'web-1', 'ls', '-l'], ['-L8080:localhost:80'], 'web-1', ['ls', '-l']],
    [['-vtD', '1080', 'web-1'], ['-vtD', '1080'], 'web-1', []],
    [['-oUser=b', 'web-1'], ['-oUser=b'], 'web-1', []],
    [['-R', '9000:localhost:9000', '--', 'web-1', 'true'], ['-R', '9000:localhost:9000'], 'web-1', ['true']],
  ])('%j', (args, options, target, command) => {
    expect(splitSshArgs(args)).toEqual({ options, target, command });
  });

  it('asks for the node when there is none', () => {
    expect(() => splitSshArgs(['-L', '1:a:1'])).toThrow(/which node/);
  });
});

describe('sshFailure', () => {
  const denied = 'ubuntu@web-1.postern.localhost: Permission denied (publickey).\r\n';

  it('blames the login, not the CA, on a node that accepted a Postern certificate before', () => {
    const why = sshFailure(denied, 'web-1', 'ubuntu', { login: 'root', at: '2026-05-04T10:11:12.000Z' });
    expect(why).toBe(
      "web-1's sshd refused the login ubuntu, which Postern allowed: there is no user ubuntu on web-1, or its sshd does not allow ubuntu (AllowUsers, DenyUsers, PermitRootLogin). " +
        "It is not Postern's CA: web-1 accepted a Postern certificate for root at 2026-05-04 10:11 UTC. Use a login that exists there (`postern ls` lists yours), or ask its administrator to add ubuntu",
    );
  });

  it('names the login first and the CA only as the other cause when the node never accepted one', () => {
    const why = sshFailure(denied, 'web-1', 'ubuntu', undefined);
    expect(why).toMatch(/^web-1's sshd refused the login ubuntu, which Postern allowed: either there is no user ubuntu on web-1, or its sshd does not allow ubuntu .*, or its sshd does not trust Postern's user CA\. If no login works on web-1, run the steps printed by `postern ctl auth sign-host --host=web-1/);
  });

  it('says a host key the cluster did not sign is why ssh stopped', () => {
    const why = sshFailure('No ED25519 host key is known for web-1.postern.localhost and you have requested strict checking.\r\nHost key verification failed.\r\n', 'web-1', 'root', undefined);
    expect(why).toMatch(/^web-1's host key is not signed by the cluster's host CA.*sign-host --host=web-1 .*\(HostCertificate\)$/);
  });

  it('adds nothing to failures it cannot explain', () => {
    expect(sshFailure('ssh: connect to host web-1 port 22: Connection refused\r\n', 'web-1', 'root', undefined)).toBeUndefined();
  });
});
