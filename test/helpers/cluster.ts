import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { totpCode, totpStep } from '../../src/auth/totp.js';
import { freePort } from '../harness/ports.js';
import { PosternProcess, postern, tempDir, type RunResult } from './postern.js';

/**
 * A running cluster plus what tests need around it: an admin `ctl` on its data dir, users made
 * with real TOTP secrets, and `postern` runs as a given person (their own POSTERN_HOME).
 */
export class TestCluster {
  private readonly usedSteps = new Map<string, number>();
  pin = '';

  private constructor(
    public server: PosternProcess,
    private readonly args: string[],
    /** A postern.yaml the server and ctl read (its storage, say). */
    private readonly configFile?: string,
  ) {}

  static async start(args: string[] = [], opts: { config?: string } = {}): Promise<TestCluster> {
    // Invite links carry the public address, so it must name the port the proxy really listens on.
    const port = await freePort();
    const full = ['--listen-addr', `127.0.0.1:${port}`, '--public-addr', `postern.localhost:${port}`, ...(opts.config ? ['--config', opts.config] : []), ...args];
    const c = new TestCluster(await PosternProcess.start({ args: full }), full, opts.config);
    const status = await c.ctl(['status', '--format', 'json']);
    c.pin = (JSON.parse(status.stdout) as { authorities: { host: { pin: string } } }).authorities.host.pin;
    return c;
  }

  /** Stops the server and starts it again on the same port and data directory (after `whileDown`, when given). */
  async restart(whileDown?: () => Promise<void>): Promise<void> {
    await this.server.stop();
    await whileDown?.();
    this.server = await PosternProcess.start({ dataDir: this.server.dataDir, args: this.args });
  }

  /** A fresh join token. */
  async token(type = 'app'): Promise<string> {
    const r = await this.ctl(['tokens', 'add', `--type=${type}`, '--format', 'json']);
    if (r.code !== 0) throw new Error(`tokens add failed: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { token: string }).token;
  }

  /**
   * Starts an agent process (`postern start --roles=agent`) against this cluster and waits until
   * its tunnel is up. Without a token it must have joined before, in `dataDir`.
   */
  startAgent(args: string[], opts: { dataDir?: string; token?: string; proxy?: string } = {}): Promise<PosternProcess> {
    const dataDir = opts.dataDir ?? join(tempDir('postern-agent-'), 'data');
    const flags = ['--roles=agent', `--proxy=${opts.proxy ?? this.proxy}`, `--ca-pin=${this.pin}`, ...(opts.token ? [`--token=${opts.token}`] : []), ...args];
    return PosternProcess.spawn(dataDir, flags, (r) => /^tunnel to .* is up$/.test(r.msg));
  }

  get proxy(): string {
    return `postern.localhost:${this.server.proxyPort}`;
  }

  /** `postern ctl …` on the server host (the data dir, and the config file when there is one). */
  ctl(args: string[], input?: string): Promise<RunResult> {
    return postern(['ctl', ...args, '--data-dir', this.server.dataDir, ...(this.configFile ? ['--config', this.configFile] : [])], input === undefined ? {} : { input });
  }

  /** Adds a user with a password; returns the TOTP secret (empty when second_factor is off). */
  async addUser(name: string, password: string, roles = 'access', extra: string[] = []): Promise<string> {
    const r = await this.ctl(['users', 'add', name, `--roles=${roles}`, '--password-stdin', '--format', 'json', ...extra], password);
    if (r.code !== 0) throw new Error(`users add ${name} failed: ${r.stderr}`);
    const uri = (JSON.parse(r.stdout) as { otp_uri?: string }).otp_uri;
    return uri ? new URL(uri).searchParams.get('secret')! : '';
  }

  /**
   * A code the server has not seen for this secret: the current step, or the next one (the
   * server accepts one step of drift), waiting for a fresh step only when both are used.
   */
  async freshCode(secret: string): Promise<string> {
    for (;;) {
      const last = this.usedSteps.get(secret) ?? -1;
      const now = totpStep();
      const step = Math.max(now, last + 1);
      if (step <= now + 1) {
        this.usedSteps.set(secret, step);
        return totpCode(secret, step);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** A code that is wrong now (from a step far outside the accepted window), without using up a fresh one. */
  wrongCode(secret: string): string {
    return totpCode(secret, totpStep() + 10);
  }

  /** A person: `postern` runs with their own profile directory. */
  person(): Person {
    const home = join(tempDir('postern-home-'), '.postern');
    mkdirSync(home, { mode: 0o700 });
    return new Person(this, home);
  }

  stop(): Promise<number | null> {
    return this.server.stop();
  }
}

export class Person {
  constructor(
    readonly cluster: TestCluster,
    readonly home: string,
  ) {}

  run(args: string[], input?: string): Promise<RunResult> {
    return postern(args, { env: { POSTERN_HOME: this.home }, ...(input === undefined ? {} : { input }) });
  }

  async login(user: string, password: string, secret: string, extra: string[] = []): Promise<RunResult> {
    const otp = secret ? ['--otp', await this.cluster.freshCode(secret)] : [];
    return this.run(['login', `--proxy=${this.cluster.proxy}`, `--user=${user}`, '--password-stdin', `--ca-pin=${this.cluster.pin}`, ...otp, ...extra], password);
  }
}
