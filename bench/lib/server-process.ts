import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../server-under-test.js', import.meta.url));

/**
 * A child process under test that speaks the bench's line protocol (server-under-test.ts,
 * tunnel-under-test.ts): its first stdout line is JSON saying it is ready (with its port), and
 * each command line on stdin is answered with one JSON line.
 */
export class ServerProcess {
  private readonly waiting: ((line: string) => void)[] = [];

  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
    readonly ready: Record<string, number>,
    lines: Interface,
  ) {
    lines.on('line', (line) => this.waiting.shift()?.(line));
  }

  /** A server-under-test.ts child of the given kind. */
  static start(kind: string, sinkPort: number, tlsFile: string): Promise<ServerProcess> {
    return ServerProcess.spawn(SCRIPT, [kind, String(sinkPort), tlsFile]);
  }

  /**
   * Runs `script` with --expose-gc (so readings can include a full collection) and `nodeFlags`
   * (NODE_FLAGS for a Postern process, as the postern command has them), and waits for its ready line.
   */
  static async spawn(script: string, args: string[], opts: { readyTimeoutMs?: number; nodeFlags?: readonly string[] } = {}): Promise<ServerProcess> {
    const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
    const child = spawn(process.execPath, ['--expose-gc', ...(opts.nodeFlags ?? []), ...profileFlags(), script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const lines = createInterface({ input: child.stdout! });
    const what = `${script} ${args[0] ?? ''}`;
    try {
      const first = await new Promise<string>((resolve, reject) => {
        lines.once('line', resolve);
        child.once('exit', (code) => reject(new Error(`${what} exited with ${code} before it was ready`)));
        setTimeout(() => reject(new Error(`${what} was not ready within ${readyTimeoutMs / 1000} s`)), readyTimeoutMs).unref();
      });
      return new ServerProcess(child, exited, JSON.parse(first) as Record<string, number>, lines);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  }

  get port(): number {
    return this.ready.port!;
  }

  /** Sends one command line and resolves with the child's JSON answer. */
  ask<T>(command: string): Promise<T> {
    return new Promise((resolve) => {
      this.waiting.push((line) => resolve(JSON.parse(line) as T));
      this.child.stdin!.write(`${command}\n`);
    });
  }

  /** CPU microseconds (user + system) the server has used so far. */
  async cpu(): Promise<number> {
    return (await this.ask<{ cpu_us: number }>('cpu')).cpu_us;
  }

  /** Ends the child: by closing its stdin, or with a signal (as an operator's Ctrl-C would). */
  async stop(signal?: NodeJS.Signals): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      if (signal) this.child.kill(signal);
      else this.child.stdin!.end();
    }
    await this.exited;
  }
}

/** POSTERN_BENCH_PROFILE=DIR: every process under test writes a CPU profile there when it ends (for finding where time goes). */
export function profileFlags(): string[] {
  const dir = process.env.POSTERN_BENCH_PROFILE;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}
