import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../server-under-test.js', import.meta.url));

/** A server-under-test child process (see server-under-test.ts). */
export class ServerProcess {
  private readonly lines: Interface;
  private readonly waiting: ((line: string) => void)[] = [];

  private constructor(private readonly child: ChildProcess, readonly port: number, lines: Interface) {
    this.lines = lines;
    this.lines.on('line', (line) => this.waiting.shift()?.(line));
  }

  static async start(kind: string, sinkPort: number, tlsFile: string): Promise<ServerProcess> {
    const child = spawn(process.execPath, ['--expose-gc', SCRIPT, kind, String(sinkPort), tlsFile], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
    });
    return new ServerProcess(child, (JSON.parse(first) as { port: number }).port, lines);
  }

  /** CPU microseconds (user + system) the server has used so far. */
  cpu(): Promise<number> {
    return new Promise((resolve) => {
      this.waiting.push((line) => resolve((JSON.parse(line) as { cpu_us: number }).cpu_us));
      this.child.stdin!.write('cpu\n');
    });
  }

  async stop(): Promise<void> {
    this.child.stdin!.end();
    if (this.child.exitCode === null) await new Promise((r) => this.child.once('exit', r));
  }
}
