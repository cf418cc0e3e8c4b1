import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Sshd } from '../../test/harness/sshd.js';
import { tempDir } from '../../test/harness/temp.js';
import type { BenchTls } from '../lib/fixture.js';
import { startRelayChain } from '../lib/relay-chain.js';
import { median, type Row } from '../lib/stats.js';
import { BenchCluster } from '../lib/tunnel-cluster.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const STDIO_TLS = fileURLToPath(new URL('../stdio-tls.js', import.meta.url));
const run = promisify(execFile);

/** Seconds that `command` took. */
async function timed(command: string, args: string[], env?: Record<string, string>): Promise<number> {
  const t0 = performance.now();
  await run(command, args, { ...(env ? { env: { ...process.env, ...env } } : {}), maxBuffer: 1 << 20 });
  return (performance.now() - t0) / 1000;
}

/**
 * SSH through Postern with stock OpenSSH: `scp` of a large file to a node through proxy → agent →
 * sshd (plain scp with `postern config`'s ProxyCommand and per-connection certificate), against
 * scp straight to the same sshd with a key, in the same run (target ≥ 0.7×). Also through the
 * same number of Node processes and TLS legs without Postern (a stdin/stdout TLS ProxyCommand →
 * TLS relay → relay → sshd), which shows what any relay chain costs scp on this machine: scp's
 * 2 MiB channel window makes it sensitive to the latency each hop adds. And the set-up time of a
 * session (`ssh … true`), whose extra is mostly starting the postern process that serves as
 * ProxyCommand.
 */
export async function sshScpScenario(tls: BenchTls, opts: { mib: number; rounds: number }): Promise<Row[]> {
  const cluster = await BenchCluster.start('auth:\n  second_factor: off\n');
  const sshd = await Sshd.start({
    configure: async (hostKeyPub, dir) => {
      await cluster.ctl(['auth', 'sign-host', '--host=bench-node', `--key=${hostKeyPub}`, `--out=${join(dir, 'host-cert.pub')}`]);
      writeFileSync(join(dir, 'user_ca.pub'), await cluster.ctl(['auth', 'export', '--type=user-ssh']));
      return [`TrustedUserCAKeys ${join(dir, 'user_ca.pub')}`, 'AuthorizedPrincipalsCommand /bin/echo %u@bench-node', 'AuthorizedPrincipalsCommandUser nobody', `HostCertificate ${join(dir, 'host-cert.pub')}`];
    },
  });
  const agent = await cluster.startAgent([], [{ name: 'bench-node', port: sshd.port }]);
  const relays = await startRelayChain(tls, sshd.port);
  const home = await cluster.loginHome();
  const env = { POSTERN_HOME: home };
  const config = join(tempDir('postern-bench-ssh-'), 'ssh_config');
  writeFileSync(config, (await run(process.execPath, [CLI, 'config'], { env: { ...process.env, ...env } })).stdout);
  const file = join(tempDir('postern-bench-ssh-'), 'payload.bin');
  await run('head', ['-c', String(opts.mib * 1024 * 1024), '/dev/urandom'], { encoding: 'buffer', maxBuffer: opts.mib * 1024 * 1024 + 1024 }).then(({ stdout }) => writeFileSync(file, stdout));
  const remote = join(tempDir('postern-bench-ssh-'), 'received.bin');
  const direct = ['-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-i', sshd.userKey, '-P', String(sshd.port)];
  const paths = {
    direct: () => timed('scp', ['-q', ...direct, file, `root@127.0.0.1:${remote}`]),
    postern: () => timed('scp', ['-q', '-F', config, '-o', 'BatchMode=yes', file, `root@bench-node.postern.localhost:${remote}`], env),
    relays: () => timed('scp', ['-q', ...direct, '-o', `ProxyCommand=${process.execPath} ${STDIO_TLS} ${relays.port}`, file, `root@127.0.0.1:${remote}`]),
  };
  const setup = {
    direct: () => timed('ssh', [...direct.map((a) => (a === '-P' ? '-p' : a)), 'root@127.0.0.1', 'true']),
    postern: () => timed('ssh', ['-F', config, '-o', 'BatchMode=yes', 'root@bench-node.postern.localhost', 'true'], env),
  };
  const seconds: Record<keyof typeof paths, number[]> = { direct: [], postern: [], relays: [] };
  const sessions: Record<keyof typeof setup, number[]> = { direct: [], postern: [] };
  try {
    for (let round = 0; round < opts.rounds; round++) {
      for (const name of ['direct', 'postern', 'relays'] as const) seconds[name].push(await paths[name]());
      for (const name of ['direct', 'postern'] as const) for (let i = 0; i < 5; i++) sessions[name].push(await setup[name]());
    }
  } finally {
    await agent.stop();
    await relays.stop();
    await sshd.stop();
    await cluster.stop();
  }
  const rate = (name: keyof typeof paths) => opts.mib / median(seconds[name]);
  const ratio = rate('postern') / rate('direct');
  const added = (median(sessions.postern) - median(sessions.direct)) * 1000;
  return [
    { scenario: `scp ${opts.mib} MiB through proxy → agent → sshd`, figure: `${rate('postern').toFixed(0)} MiB/s`, baseline: `scp direct ${rate('direct').toFixed(0)} MiB/s`, ratio, target: '>= 0.70x', pass: ratio >= 0.7 },
    { scenario: '  same hops without Postern: node TLS client → TLS relay → relay', figure: `${rate('relays').toFixed(0)} MiB/s`, baseline: `scp direct ${rate('direct').toFixed(0)} MiB/s`, ratio: rate('relays') / rate('direct') },
    { scenario: 'ssh session set-up (ssh … true)', figure: `+${added.toFixed(0)} ms (${(median(sessions.postern) * 1000).toFixed(0)} ms)`, baseline: `direct ${(median(sessions.direct) * 1000).toFixed(0)} ms`, ratio: NaN },
  ];
}
