import { run, type RunResult } from './postern.js';

/** One handshake with `openssl s_client`; returns its output (stdout and stderr together). */
export async function sClient(port: number, args: string[]): Promise<RunResult & { out: string }> {
  const r = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...args], { input: '', timeoutMs: 15_000 });
  return { ...r, out: r.stdout + r.stderr };
}
