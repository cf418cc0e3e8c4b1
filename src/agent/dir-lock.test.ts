import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Logger } from '../log/logger.js';
import { LOCK_FILE, lockAgentDir, type DirLock } from './dir-lock.js';

function capturingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger({ level: 'info', format: 'json', sink: { write: (line) => lines.push(line) } }), lines };
}

/** A pid no process has now: a child's, once it has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

/** A new agent directory; with `lock`, one whose lock file another process left with that content. */
function agentDir(lock?: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'postern-lock-')), 'agents', 'alpha');
  if (lock !== undefined) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, LOCK_FILE), lock);
  }
  return dir;
}

describe('an agent directory lock', () => {
  const held: DirLock[] = [];
  afterEach(() => held.splice(0).forEach((l) => l.release()));

  it('is taken on a fresh directory, which it creates 0700, and holds our pid until released', () => {
    const d = agentDir();
    const lock = lockAgentDir(d, capturingLogger().log);
    expect(lock.file).toBe(join(d, LOCK_FILE));
    expect(readFileSync(lock.file, 'utf8')).toBe(`${process.pid}\n`);
    expect(statSync(d).mode & 0o777).toBe(0o700);
    lock.release();
    expect(existsSync(lock.file)).toBe(false);
    lock.release(); // twice is harmless
    held.push(lockAgentDir(d, capturingLogger().log)); // and it can be taken again
  });

  it('refuses a second holder at once, naming the directory, the pid and what to do', async () => {
    // Held by another live process (one that only sleeps), as a second agent would find it.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    try {
      const d = agentDir(`${other.pid}\n`);
      const refused = () => lockAgentDir(d, capturingLogger().log);
      expect(refused).toThrow(`the agent directory ${d} is in use by process ${other.pid} (lock file ${join(d, LOCK_FILE)})`);
      expect(refused).toThrow(/Stop that agent first, or give this one its own --data-dir or a different --agent-name/);
      expect(readFileSync(join(d, LOCK_FILE), 'utf8')).toBe(`${other.pid}\n`); // left alone
    } finally {
      other.kill();
    }
  });

  it('refuses a second lock in the same process too', () => {
    const d = agentDir();
    held.push(lockAgentDir(d, capturingLogger().log));
    expect(() => lockAgentDir(d, capturingLogger().log)).toThrow(expect.objectContaining({ code: 'AGENT_DIR_IN_USE', message: expect.stringContaining(`in use by process ${process.pid}`) }));
    expect(existsSync(held[0]!.file)).toBe(true);
  });

  it('takes over a stale lock, whose process no longer runs, with a log line', () => {
    const pid = deadPid();
    const d = agentDir(`${pid}\n`);
    const { log, lines } = capturingLogger();
    held.push(lockAgentDir(d, log));
    expect(readFileSync(join(d, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    expect(lines.map((l) => JSON.parse(l) as { level: string; msg: string; stale_pid: number })).toEqual([
      expect.objectContaining({ level: 'warn', msg: expect.stringContaining(`from process ${pid}, which no longer runs`), stale_pid: pid }),
    ]);
  });

  it('says so when the lock names no process, rather than guessing', () => {
    const d = agentDir('garbage');
    expect(() => lockAgentDir(d, capturingLogger().log)).toThrow(`which names no process; if no agent is running from ${d}, delete ${join(d, LOCK_FILE)}`);
  });

  it('on release, leaves alone a lock another process has put there since', () => {
    const d = agentDir();
    const lock = lockAgentDir(d, capturingLogger().log);
    writeFileSync(lock.file, '1\n'); // pid 1 always runs
    lock.release();
    expect(readFileSync(lock.file, 'utf8')).toBe('1\n');
  });
});
