import fc from 'fast-check';

/**
 * Runs one fuzz target: fast-check generates inputs, `check` judges each, and an input that
 * breaks the contract or takes longer than SLOW_MS fails the run (fast-check then shrinks it
 * to a small input that still fails). vitest (fuzz.test.ts) and `npm run fuzz` (run.ts) share it.
 */

/** Each target parses one connection's or one file's worth of input: more than this is a bug. */
export const SLOW_MS = 10;

export interface Target<T = any> {
  name: string;
  arbitrary: fc.Arbitrary<T>;
  /** Returns when the target kept its contract on `input`; throws saying how it did not. */
  check(input: T): void;
}

export interface Report {
  target: string;
  seed: number;
  /** Inputs judged, the failing one included. */
  runs: number;
  slowestMs: number;
  failure?: { input: string; error: string };
}

export interface FuzzOptions {
  runs: number;
  seed: number;
  /** Stop after this long, as if `runs` were reached. */
  maxMs?: number;
  /** Called before each generated input (not while shrinking), with its index. */
  onInput?: (index: number) => void;
  /** Called on every call of the check, shrinking included: a sign of life. */
  onCall?: () => void;
}

export function fuzz<T>(target: Target<T>, opts: FuzzOptions): Report {
  let index = 0;
  let shrinking = false;
  let slowestMs = 0;
  const property = fc.property(target.arbitrary, (input) => {
    if (!shrinking) opts.onInput?.(index++);
    opts.onCall?.();
    try {
      let ms = timed(() => target.check(input));
      // A pause (garbage collection, the first call's compiling) slows one run; a slow input is slow
      // every time. So an input that would be the slowest yet is timed again.
      for (let retry = 0; ms > slowestMs && retry < 4; retry++) ms = Math.min(ms, timed(() => target.check(input)));
      slowestMs = Math.max(slowestMs, ms);
      if (ms > SLOW_MS) throw new Error(`took ${ms.toFixed(1)} ms, over the ${SLOW_MS} ms limit`);
    } catch (err) {
      shrinking = true;
      throw err;
    }
  });
  const details = fc.check(property, { numRuns: opts.runs, seed: opts.seed, ...(opts.maxMs ? { interruptAfterTimeLimit: opts.maxMs } : {}) });
  const report: Report = { target: target.name, seed: opts.seed, runs: details.numRuns, slowestMs };
  if (details.failed) report.failure = { input: printable(details.counterexample?.[0]), error: describe(details.errorInstance) };
  return report;
}

/** An input as it can be pasted into a regression test: bytes as hex, anything else as a JS literal. */
export function printable(input: unknown): string {
  return input instanceof Uint8Array ? `Buffer.from('${Buffer.from(input).toString('hex')}', 'hex')` : fc.stringify(input);
}

/** The contract a check found broken with the stack of what the target threw, or the target's own error. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return `threw ${String(err)}`;
  return err.cause instanceof Error ? `${err.message}\n  caused by ${err.cause.stack}` : (err.stack ?? err.message);
}

/** CPU time in ms, not wall time: on a busy machine (or under `nice`) waiting for a core is not slowness. */
function timed(fn: () => void): number {
  const start = process.cpuUsage();
  fn();
  const { user, system } = process.cpuUsage(start);
  return (user + system) / 1000;
}
