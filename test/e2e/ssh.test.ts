import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/eventually.js';
import { freePort } from '../harness/ports.js';
import { Sshd } from '../harness/sshd.js';
import { TestCluster, type Person } from '../helpers/cluster.js';
import { haveProgram } from '../helpers/programs.js';
import { posternNode } from '../helpers/ssh-node.js';
import { CLI, run, tempDir, type PosternProcess } from '../helpers/postern.js';

const tools = haveProgram('ssh', ['-V']) && haveProgram('/usr/sbin/sshd', ['-V']) && haveProgram('scp', ['-V']) && haveProgram('curl', ['--version']);
const PASSWORD = 'correct horse battery staple';

describe.runIf(tools)('SSH access: certificates, postern ssh, plain OpenSSH', () => {
  let cluster: TestCluster;
  const sshds: Record<string, Sshd> = {};
  let agent: PosternProcess;
  let alice: Person;
  let profileDir: string;

  beforeAll(async () => {
    const config = join(tempDir(), 'postern.yaml');
    // db-1 is reached by the proxy itself (proxy.ssh_nodes), with no agent: its port is chosen first.
    const directPort = await freePort();
    writeFileSync(config, `auth:\n  second_factor: off\nproxy:\n  ssh_nodes:\n    - { name: db-1, addr: "127.0.0.1:${directPort}", labels: { env: dev } }\n`);
    cluster = await TestCluster.start(['--config', config]);
    sshds['db-1'] = await posternNode(cluster, 'db-1', { port: directPort });
    sshds['web-1'] = await posternNode(cluster, 'web-1');
    sshds['web-2'] = await posternNode(cluster, 'web-2');
    sshds['untrusting'] = await posternNode(cluster, 'untrusting', { trust: false });
    sshds['unsigned'] = await Sshd.start(); // never given sign-host's steps: no host certificate
    agent = await cluster.startAgent(
      [
        '--ssh', `name=web-1,addr=127.0.0.1:${sshds['web-1'].port},labels=env=dev`,
        '--ssh', `name=web-2,addr=127.0.0.1:${sshds['web-2'].port},labels=env=prod`,
        '--ssh', `name=untrusting,addr=127.0.0.1:${sshds['untrusting'].port},labels=env=dev`,
        '--ssh', `name=unsigned,addr=127.0.0.1:${sshds['unsigned'].port},labels=env=dev`,
      ],
      { token: await cluster.token('ssh') },
    );
    const dir = tempDir();
    // root only on dev nodes; ubuntu (from the logins trait) everywhere.
    writeFileSync(join(dir, 'roles.yaml'), 'kind: role\nversion: v1\nmetadata: { name: dev-root }\nspec:\n  allow:\n    logins: [root]\n    node_labels: { env: dev }\n---\nkind: role\nversion: v1\nmetadata: { name: ubuntu-everywhere }\nspec:\n  allow:\n    logins: ["{{internal.logins}}"]\n    node_labels: { "*": "*" }\n');
    expect((await cluster.ctl(['create', '-f', join(dir, 'roles.yaml')])).code).toBe(0);
    await cluster.addUser('alice', PASSWORD, 'dev-root,ubuntu-everywhere', ['--logins=ubuntu']);
    alice = cluster.person();
    expect((await alice.login('alice', PASSWORD, '')).code).toBe(0);
    profileDir = join(alice.home, 'profiles', `postern.localhost-${cluster.server.proxyPort}`);
  });
  afterAll(async () => {
    await agent?.stop();
    for (const s of Object.values(sshds)) await s.stop();
    await cluster?.stop();
  });

  const postern = (args: string[]) => alice.run(args);

  it('lists the nodes with the logins allowed on each', async () => {
    const ls = await postern(['ls']);
    expect(ls.stdout).toMatch(/db-1\s+env=dev\s+root, ubuntu/);
    expect(ls.stdout).toMatch(/web-1\s+env=dev\s+root, ubuntu/);
    expect(ls.stdout).toMatch(/web-2\s+env=prod\s+ubuntu\n/);
    expect((await postern(['ls', 'env=prod'])).stdout).not.toContain('web-1');
  });

  it('runs a command with postern ssh, as a login the roles allow on that node', async () => {
    const r = await postern(['ssh', 'root@web-1', 'echo "$(whoami) on web-1"']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('root on web-1\n');
    const audit = await cluster.ctl(['audit', 'ls', '--format', 'json', '--type', 'ssh.session.end', '--user', 'alice']);
    expect(JSON.parse(audit.stdout.trim().split('\n')[0]!)).toMatchObject({ login: 'root', node: 'web-1', bytes_up: expect.any(Number), duration_ms: expect.any(Number) });
  });

  it('reaches a node the proxy dials itself (proxy.ssh_nodes), with the same login rules', async () => {
    const r = await postern(['ssh', 'root@db-1', 'echo "$(whoami) on db-1"']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('root on db-1\n');
    const audit = await cluster.ctl(['audit', 'ls', '--format', 'json', '--type', 'ssh.session.start', '--user', 'alice']);
    expect(audit.stdout).toContain('"node":"db-1"');
  });

  it('refuses a login the roles do not allow on that node, naming the logins that are', async () => {
    const r = await postern(['ssh', 'root@web-2', 'true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('alice may not log in to web-2 as root');
    expect(r.stderr).toContain('you may log in to web-2 as: ubuntu');
    // Postern's reason is the last word, not ssh's "Connection closed by UNKNOWN port 65535".
    expect(r.stderr).not.toMatch(/kex_exchange_identification|Connection closed by/);
  });

  it('keeps per-node login rules for the login certificate used directly, bypassing the proxy', async () => {
    const direct = (node: string, login: string) =>
      run('ssh', ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'IdentityAgent=none', '-i', join(profileDir, 'ssh', 'id_ed25519'), '-o', `CertificateFile=${join(profileDir, 'ssh', 'id_ed25519-cert.pub')}`, '-p', String(sshds[node]!.port), `${login}@127.0.0.1`, 'echo in']);
    expect((await direct('web-1', 'root')).stdout).toBe('in\n'); // allowed: the files work
    const refused = await direct('web-2', 'root'); // root is not allowed on prod by any path
    expect(refused.code).toBe(255);
    expect(refused.stderr).toContain('Permission denied');
    const principals = (await run('ssh-keygen', ['-L', '-f', join(profileDir, 'ssh', 'id_ed25519-cert.pub')])).stdout;
    expect(principals).toMatch(/root@web-1/);
    expect(principals).not.toMatch(/root@web-2/);
  });

  it('works for plain ssh and scp through postern config, with strict host checking', async () => {
    const config = (await postern(['config'])).stdout;
    expect(config).toContain('StrictHostKeyChecking yes');
    expect(config).toMatch(/@cert-authority \*\.postern\.localhost ssh-ed25519 /);
    const file = join(tempDir(), 'ssh_config');
    writeFileSync(file, config);
    const env = { POSTERN_HOME: alice.home };
    const plain = await run('ssh', ['-F', file, '-o', 'BatchMode=yes', 'root@web-1.postern.localhost', 'echo plain'], { env });
    expect(plain.stderr).toBe('');
    expect(plain.stdout).toBe('plain\n');

    const data = randomBytes(2 * 1024 * 1024);
    const dir = tempDir();
    writeFileSync(join(dir, 'up.bin'), data);
    const remote = join(tempDir(), 'remote.bin');
    expect((await run('scp', ['-F', file, '-q', join(dir, 'up.bin'), `root@web-1.postern.localhost:${remote}`], { env })).code).toBe(0);
    expect((await run('scp', ['-F', file, '-q', `root@web-1.postern.localhost:${remote}`, join(dir, 'down.bin')], { env })).code).toBe(0);
    const sum = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(sum(readFileSync(remote))).toBe(sum(data));
    expect(sum(readFileSync(join(dir, 'down.bin')))).toBe(sum(data));
  });

  it('keeps several plain ssh connections to the same login@node apart (each its own agent socket)', async () => {
    const file = join(tempDir(), 'ssh_config');
    writeFileSync(file, (await postern(['config'])).stdout);
    const env = { POSTERN_HOME: alice.home };
    // Staggered so that some sign in while others are still running: no one's exit may take another's socket.
    const sessions = [0, 1, 2, 3].map(async (i) => {
      await new Promise((r) => setTimeout(r, i * 1500));
      return run('ssh', ['-F', file, '-o', 'BatchMode=yes', 'root@web-1.postern.localhost', `sleep 3; echo session ${i}`], { env, timeoutMs: 30_000 });
    });
    for (const [i, r] of (await Promise.all(sessions)).entries()) {
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`session ${i}\n`);
    }
  });

  it('forwards ports with -L and -D, as ssh does', async () => {
    const web = createServer((_req, res) => res.end('through the forward'));
    web.listen(0, '127.0.0.1');
    await once(web, 'listening');
    const webPort = (web.address() as { port: number }).port;
    const [local, socks] = [await freePort(), await freePort()];
    const forward = spawn(process.execPath, [CLI, 'ssh', '-N', '-L', `${local}:127.0.0.1:${webPort}`, '-D', String(socks), 'root@web-1'], { env: { ...process.env, POSTERN_HOME: alice.home } });
    try {
      const viaL = await eventually(async () => { const r = await run('curl', ['-sS', '--max-time', '2', `http://127.0.0.1:${local}/`]); return r.code === 0 ? r.stdout : undefined; }, () => 'the -L forward never answered', 10_000);
      expect(viaL).toBe('through the forward');
      const viaD = await run('curl', ['-sS', '--max-time', '5', '--socks5-hostname', `127.0.0.1:${socks}`, `http://127.0.0.1:${webPort}/`]);
      expect(viaD.stdout).toBe('through the forward');
    } finally {
      forward.kill();
      web.close();
    }
  });

  it('says what is wrong: an unknown node, a node that does not trust the CA, a host key the cluster did not sign, an expired login', async () => {
    const unknown = await postern(['ssh', 'root@web-9', 'true']);
    expect(unknown.stderr).toContain('there is no node "web-9"; `postern ls` lists the nodes you may reach');
    const untrusting = await postern(['ssh', 'root@untrusting', 'true']);
    expect(untrusting.code).toBe(255);
    expect(untrusting.stderr).toContain("untrusting's sshd refused the login root, which Postern allowed: either there is no user root on untrusting");
    expect(untrusting.stderr).toContain("or its sshd does not trust Postern's user CA. If no login works on untrusting, run the steps printed by `postern ctl auth sign-host --host=untrusting");
    const unsigned = await postern(['ssh', 'root@unsigned', 'true']);
    expect(unsigned.code).toBe(255);
    expect(unsigned.stderr).toContain("postern: unsigned's host key is not signed by the cluster's host CA, so ssh cannot tell it is really unsigned and stopped before logging in: run the steps printed by `postern ctl auth sign-host --host=unsigned");
    const profile = join(profileDir, 'profile.json');
    const saved = readFileSync(profile, 'utf8');
    writeFileSync(profile, JSON.stringify({ ...JSON.parse(saved), expires: new Date(Date.now() - 1000).toISOString() }));
    try {
      const expired = await postern(['ssh', 'root@web-1', 'true']);
      expect(expired.code).toBe(77);
      expect(expired.stderr).toMatch(/expired at .*run `postern login`/);
    } finally {
      writeFileSync(profile, saved);
    }
  });

  it('says a login the node has no user for is refused by its sshd, and blames the CA only when the node never took a Postern certificate', async () => {
    // bob may log in everywhere as nosuchuser, which is no OS user on any node.
    await cluster.addUser('bob', PASSWORD, 'dev-root,ubuntu-everywhere', ['--logins=nosuchuser']);
    const bob = cluster.person();
    expect((await bob.login('bob', PASSWORD, '')).code).toBe(0);
    // Nothing tells yet whether web-2 trusts Postern's CA: both causes are named, the login first.
    const first = await bob.run(['ssh', 'nosuchuser@web-2', 'true']);
    expect(first.code).toBe(255);
    expect(first.stderr).toContain("postern: web-2's sshd refused the login nosuchuser, which Postern allowed: either there is no user nosuchuser on web-2, or its sshd does not allow nosuchuser");
    // Once web-1 has taken bob's certificate for root, a refusal there is the login's, not the CA's.
    expect((await bob.run(['ssh', 'root@web-1', 'true'])).code).toBe(0);
    const refused = await bob.run(['ssh', 'nosuchuser@web-1', 'true']);
    expect(refused.code).toBe(255);
    expect(refused.stderr).toContain("postern: web-1's sshd refused the login nosuchuser, which Postern allowed: there is no user nosuchuser on web-1, or its sshd does not allow nosuchuser (AllowUsers, DenyUsers, PermitRootLogin). It is not Postern's CA: web-1 accepted a Postern certificate for root at ");
    expect(refused.stderr).not.toMatch(/sign-host|trust Postern's user CA/);
  });

  it('says a node is offline when its agent is gone', async () => {
    await agent.stop();
    const r = await postern(['ssh', 'root@web-1', 'true']);
    expect(r.stderr).toContain('agent for node "web-1" is offline');
  });
});
