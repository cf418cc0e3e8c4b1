import { closeSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PosternError } from '../errors/postern-error.js';
import type { Logger } from '../log/logger.js';

export const LOCK_FILE = 'agent.lock';

export interface DirLock {
  readonly file: string;
  /** Removes the lock file if it is still this process's. Safe to call twice. */
  release(): void;
}

/**
 * Holds an agent's state directory for the life of this process: `agent.lock`, created with
 * O_EXCL, holding our pid. Two agents on one directory would share one identity and push each
 * other's tunnel off the proxy every few hundred milliseconds; the second one must stop at once
 * and say why. A lock whose process no longer runs (the agent was killed) is taken over.
 */
export function lockAgentDir(dir: string, log: Logger): DirLock {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, LOCK_FILE);
  // A few rounds: between two reads the lock may be released, or taken over by another agent.
  for (let round = 0; round < 5; round++) {
    if (create(file)) return held(file);
    const pid = readPid(file);
    if (pid === 'gone') continue;
    if (pid === undefined) throw unreadable(dir, file);
    if (running(pid)) throw inUse(dir, file, pid);
    if (removeStale(file, pid)) log.warn(`took over ${file} from process ${pid}, which no longer runs (that agent did not stop cleanly)`, { dir, stale_pid: pid });
  }
  const pid = readPid(file);
  throw typeof pid === 'number' ? inUse(dir, file, pid) : unreadable(dir, file);
}

/** Creates the lock with our pid; false if a lock is there already. */
function create(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new PosternError('STORAGE_UNAVAILABLE', `cannot create ${file}: ${(err as Error).message}; check that this user may write there`, { cause: err });
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

function held(file: string): DirLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    // Someone may have deleted a lock they thought stale and taken it: leave theirs alone.
    if (readPid(file) === process.pid) unlinkSync(file);
  };
  // Also on process.exit() without close (a crash on the way out): the next start needs no takeover.
  process.on('exit', release);
  return { file, release };
}

/** The pid in a lock file; 'gone' if there is no file, undefined if it names no pid. */
function readPid(file: string): number | 'gone' | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  const pid = Number(text.trim());
  return /^\d+$/.test(text.trim()) && pid > 0 ? pid : undefined;
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // it exists, as another user
  }
}

/**
 * Removes the lock of dead process `pid`, and only that: another agent may have taken it over
 * since we read it. Moving it aside is atomic, so we look at exactly what we moved.
 */
function removeStale(file: string, pid: number): boolean {
  const aside = `${file}.${process.pid}.stale`;
  try {
    renameSync(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  if (readPid(aside) === pid) {
    unlinkSync(aside);
    return true;
  }
  renameSync(aside, file); // a live agent's lock, taken after our read: put it back
  return false;
}

function inUse(dir: string, file: string, pid: number): PosternError {
  return new PosternError(
    'AGENT_DIR_IN_USE',
    `the agent directory ${dir} is in use by process ${pid} (lock file ${file}): two agents cannot share one identity. ` +
      `Stop that agent first, or give this one its own --data-dir or a different --agent-name (a new name joins anew, with a --token). ` +
      `If process ${pid} is not a Postern agent, delete ${file} and start again.`,
  );
}

function unreadable(dir: string, file: string): PosternError {
  return new PosternError('AGENT_DIR_IN_USE', `the agent directory ${dir} is locked by ${file}, which names no process; if no agent is running from ${dir}, delete ${file} and start again`);
}
