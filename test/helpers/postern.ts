import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { eventually } from '../harness/eventually.js';
import { tempDir } from '../harness/temp.js';

export const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

function requireBuild(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it first)`);
}

export { tempDir } from '../harness/temp.js';

export interface LogRecord {
  level: string;
  msg: string;
  [key: string]: unknown;
}

/** A `postern start` child process on random ports, with its logs parsed as they arrive. */
export class PosternProcess {
  readonly logs: LogRecord[] = [];
  stdout = '';
  stderr = '';
  proxyPort = 0;
  diagPort = 0;
  private readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess, readonly dataDir: string) {
    let partial = '';
    child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      partial += d.toString();
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as LogRecord);
        } catch {
          // not a log line (a crash trace, for instance); it stays in this.stderr
        }
      }
    });
    // 'close', not 'exit': the last of its output may still be in the pipes when it exits.
    this.exited = new Promise((resolve) => child.once('close', (code) => resolve(code)));
  }

  /** Starts the server and waits until it listens. `args` add to or override the defaults. */
  static async start(opts: { dataDir?: string; args?: string[]; diag?: boolean } = {}): Promise<PosternProcess> {
    const dataDir = opts.dataDir ?? join(tempDir(), 'data');
    const args = ['--listen-addr', '127.0.0.1:0', ...(opts.diag === false ? [] : ['--diag-addr', '127.0.0.1:0']), ...(opts.args ?? [])];
    const p = await PosternProcess.spawn(dataDir, args, (r) => r.msg === 'postern started');
    const started = p.logs.find((r) => r.msg === 'postern started')!;
    p.proxyPort = Number(String(started.listen).split(':').pop());
    if (started.diag) p.diagPort = Number(String(started.diag).split(':').pop());
    return p;
  }

  /** Runs `postern start --data-dir DIR --log-format json ARGS…` and waits for the log line `ready` matches. */
  static async spawn(dataDir: string, args: string[], ready: (r: LogRecord) => boolean, timeoutMs = 20_000): Promise<PosternProcess> {
    requireBuild();
    const child = spawn(process.execPath, [CLI, 'start', '--data-dir', dataDir, '--log-format', 'json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const p = new PosternProcess(child, dataDir);
    await Promise.race([
      p.waitForLog(ready, timeoutMs),
      p.exited.then((code) => {
        throw new Error(`postern start exited with ${code} before it was ready:\n${p.stderr}`);
      }),
    ]);
    // The banner goes to stdout after the log line goes to stderr; the two pipes race.
    await p.waitForStdout('Press Ctrl-C');
    return p;
  }

  /** The exit code once the process ends by itself. */
  get exit(): Promise<number | null> {
    return this.exited;
  }

  waitForLog(match: (r: LogRecord) => boolean, timeoutMs = 5000): Promise<LogRecord> {
    return eventually(() => this.logs.find(match), () => `no matching log line; logs:\n${this.stderr}`, timeoutMs);
  }

  waitForStdout(text: string, timeoutMs = 5000): Promise<string> {
    return eventually(() => (this.stdout.includes(text) ? this.stdout : undefined), () => `stdout never showed ${JSON.stringify(text)}; it has:\n${this.stdout}`, timeoutMs);
  }

  /** Sends a signal and returns the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  url(path = '/', host = 'postern.localhost'): string {
    return `https://${host}:${this.proxyPort}${path}`;
  }
}

const execFileP = promisify(execFile);

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion and returns its exit code and output (never throws on exit code). */
export async function run(file: string, args: string[], opts: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<RunResult> {
  try {
    const p = execFileP(file, args, { timeout: opts.timeoutMs ?? 20_000, maxBuffer: 16 << 20, ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}) });
    if (opts.input !== undefined) {
      p.child.stdin!.end(opts.input);
    }
    const { stdout, stderr } = await p;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Runs the postern CLI. */
export function postern(args: string[], opts?: { input?: string; env?: Record<string, string> }): Promise<RunResult> {
  requireBuild();
  return run(process.execPath, [CLI, ...args], opts);
}
