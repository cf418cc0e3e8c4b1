import { once } from 'node:events';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../helpers/cluster.js';
import { haveProgram } from '../helpers/programs.js';
import { postern, tempDir, type PosternProcess } from '../helpers/postern.js';

const tools = haveProgram('openssl', ['version']);

/**
 * Agents started in one data directory (the same working directory, with the default
 * ./postern-data, is the same thing): each name gets its own identity, and a second agent with
 * a name already running there stops at once, saying which process holds it.
 */
describe.runIf(tools)('agents sharing a data directory', () => {
  let cluster: TestCluster;
  let echo: Server;
  let app: (name: string) => string[];
  const agents: PosternProcess[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.start();
    echo = createServer((s) => s.on('error', () => {}).pipe(s)).listen(0, '127.0.0.1');
    await once(echo, 'listening');
    app = (name) => ['--app', `name=${name},uri=tcp://127.0.0.1:${(echo.address() as { port: number }).port}`];
  });
  afterAll(async () => {
    for (const a of agents) await a.stop();
    echo?.close();
    await cluster?.stop();
  });

  const startAgent = async (name: string, dataDir: string, token?: string) => {
    const agent = await cluster.startAgent([`--agent-name=${name}`, ...app(`${name}-app`)], { dataDir, ...(token ? { token } : {}) });
    agents.push(agent);
    return agent;
  };
  /** `postern start --roles=agent` that is expected to stop by itself. */
  const startRefused = (name: string, dataDir: string, token: string) =>
    postern(['start', '--roles=agent', '--data-dir', dataDir, `--proxy=${cluster.proxy}`, `--ca-pin=${cluster.pin}`, `--token=${token}`, `--agent-name=${name}`, ...app(`${name}-app`)]);
  const listed = async () => (JSON.parse((await cluster.ctl(['get', 'agents', '--format', 'json'])).stdout) as { id: string; name: string }[]).map((a) => a.name).sort();

  it('runs two agents with different names side by side, each with its own identity', async () => {
    const dataDir = join(tempDir(), 'postern-data');
    const alpha = await startAgent('alpha', dataDir, await cluster.token('app'));
    const beta = await startAgent('beta', dataDir, await cluster.token('app'));
    expect(alpha.stdout).toContain(`Identity:     ${join(dataDir, 'agents', 'alpha')}\n`);
    expect(beta.stdout).toContain(`Identity:     ${join(dataDir, 'agents', 'beta')}\n`);
    const ids = ['alpha', 'beta'].map((n) => (JSON.parse(readFileSync(join(dataDir, 'agents', n, 'identity.json'), 'utf8')) as { agentId: string; name: string }));
    expect(ids.map((i) => i.name)).toEqual(['alpha', 'beta']);
    expect(ids[0]!.agentId).not.toBe(ids[1]!.agentId);
    expect(await listed()).toEqual(expect.arrayContaining(['alpha', 'beta']));
    // Sharing one identity, they used to push each other's tunnel off the proxy every few hundred ms.
    await new Promise((r) => setTimeout(r, 1000));
    for (const a of [alpha, beta]) expect(a.logs.filter((l) => /tunnel to .* is down/.test(l.msg))).toEqual([]);
  });

  it('refuses a second agent with a running name at once, naming the directory, the pid and what to do, with its token unspent', async () => {
    const dataDir = join(tempDir(), 'postern-data');
    const first = await startAgent('gamma', dataDir, await cluster.token('app'));
    const token = await cluster.token('app');
    const started = Date.now();
    const second = await startRefused('gamma', dataDir, token);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(second.code).toBe(75); // AGENT_DIR_IN_USE
    const dir = join(dataDir, 'agents', 'gamma');
    expect(second.stderr).toContain(`postern: the agent directory ${dir} is in use by process ${first.child.pid} (lock file ${join(dir, 'agent.lock')})`);
    expect(second.stderr).toContain('Stop that agent first, or give this one its own --data-dir or a different --agent-name');
    expect(first.alive).toBe(true);
    // Refused before joining: the token still works, for an agent with a name of its own.
    await startAgent('delta', dataDir, token);
    expect(await listed()).toEqual(expect.arrayContaining(['gamma', 'delta']));
  });

  it('takes over the lock of an agent that was killed, and releases it on a clean stop', async () => {
    const dataDir = join(tempDir(), 'postern-data');
    const lock = join(dataDir, 'agents', 'kappa', 'agent.lock');
    const killed = await startAgent('kappa', dataDir, await cluster.token('app'));
    expect(await killed.stop('SIGKILL')).toBe(null);
    expect(readFileSync(lock, 'utf8')).toBe(`${killed.child.pid}\n`);
    const again = await startAgent('kappa', dataDir);
    const line = await again.waitForLog((l) => l.msg.startsWith('took over'));
    expect(line).toMatchObject({ level: 'warn', stale_pid: killed.child.pid });
    expect(await again.stop('SIGINT')).toBe(0);
    expect(existsSync(lock)).toBe(false);
  });

  it('keeps using <data_dir>/agent, where earlier versions kept the identity, for the agent it belongs to', async () => {
    const dataDir = join(tempDir(), 'postern-data');
    const joined = await startAgent('omega', dataDir, await cluster.token('app'));
    await joined.stop();
    renameSync(join(dataDir, 'agents', 'omega'), join(dataDir, 'agent')); // as an earlier version left it
    const legacy = await startAgent('omega', dataDir);
    expect(legacy.stdout).toContain(`Identity:     ${join(dataDir, 'agent')}\n`);
    expect(legacy.logs.some((l) => l.msg === 'joined the cluster')).toBe(false);
    const twice = await startRefused('omega', dataDir, await cluster.token('app'));
    expect(twice.stderr).toContain(`the agent directory ${join(dataDir, 'agent')} is in use by process ${legacy.child.pid}`);
    // Another name beside it gets a directory of its own; without a token it is told about the old one.
    const renamed = await postern(['start', '--roles=agent', '--data-dir', dataDir, `--proxy=${cluster.proxy}`, '--agent-name=sigma', ...app('sigma-app')]);
    expect(renamed.code).toBe(64);
    expect(renamed.stderr).toContain(`agent "sigma" has not joined yet (${join(dataDir, 'agents', 'sigma')} holds no identity); ${join(dataDir, 'agent')} holds agent "omega"`);
  });
});
