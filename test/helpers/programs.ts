import { execFileSync } from 'node:child_process';

/**
 * Whether a real program an end-to-end suite needs is installed. Under CI=true a missing program
 * fails the suite (CI must install it, see .ci/run); on a developer machine the suite is skipped
 * with a message that says what to install.
 */
export function haveProgram(name: string, probe: string[] = ['-v']): boolean {
  try {
    execFileSync(name, probe, { stdio: 'ignore' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return true; // it ran, just disliked the probe flag
    if (process.env.CI === 'true') throw new Error(`${name} is not installed; .ci/run must install it before the end-to-end tests run`);
    process.stderr.write(`skipping tests that need ${name}: it is not installed (apt-get install ${name})\n`);
    return false;
  }
}
