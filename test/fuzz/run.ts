import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { fuzz, printable, SLOW_MS, type Report } from './harness.js';
import { TARGETS } from './targets.js';

/**
 * `npm run fuzz [-- --runs N] [--seconds T] [--only a,b] [--seed S]`: each target for N inputs
 * (default a million) or T seconds, whichever comes first, one after the other, each in a worker
 * thread so that an input that never returns is caught too: the main thread sees the worker stop
 * and names the input. Exits 1 on any failure.
 */

/** A check that has not returned for this long hangs (a slow one fails at SLOW_MS already). */
const HANG_MS = 10_000;

interface Job {
  name: string;
  runs: number;
  seed: number;
  maxMs: number | undefined;
  /** [index of the input being judged, calls of the check so far]. */
  progress: Int32Array;
}

if (isMainThread) await main();
else {
  const job = workerData as Job;
  const target = TARGETS.find((t) => t.name === job.name)!;
  const report = fuzz(target, { runs: job.runs, seed: job.seed, maxMs: job.maxMs, onInput: (i) => Atomics.store(job.progress, 0, i), onCall: () => Atomics.add(job.progress, 1, 1) });
  parentPort!.postMessage(report);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '1000000' }, seconds: { type: 'string' }, only: { type: 'string' }, seed: { type: 'string' } } });
  const runs = Number(values.runs);
  const maxMs = values.seconds === undefined ? undefined : Number(values.seconds) * 1000;
  const only = values.only?.split(',');
  const unknown = only?.filter((name) => !TARGETS.some((t) => t.name === name));
  if (!Number.isSafeInteger(runs) || runs < 1 || (maxMs !== undefined && !(maxMs > 0)) || unknown?.length || (values.seed !== undefined && !/^-?\d+$/.test(values.seed))) {
    console.error(`usage: npm run fuzz -- [--runs N] [--seconds T] [--only ${TARGETS.map((t) => t.name).join(',')}] [--seed S]${unknown?.length ? `\nunknown target ${unknown.join(', ')}` : ''}`);
    process.exit(64);
  }
  let failed = false;
  for (const target of TARGETS.filter((t) => !only || only.includes(t.name))) {
    const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
    const started = performance.now();
    const report = await inWorker({ name: target.name, runs, seed, maxMs, progress: new Int32Array(new SharedArrayBuffer(8)) });
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `${target.name.padEnd(18)} ${report.runs.toLocaleString('en').padStart(9)} inputs  ${report.failure ? 1 : 0} crashes  slowest ${report.slowestMs.toFixed(2)} ms  ` +
        `(${seconds.toFixed(0)} s, ${Math.round(report.runs / seconds).toLocaleString('en')}/s, seed ${seed})`,
    );
    if (report.failure) {
      failed = true;
      console.log(`  FAILED: ${report.failure.error}\n  input: ${report.failure.input}\n  again: npm run fuzz -- --only ${target.name} --seed ${seed} --runs ${report.runs}\n`);
    }
  }
  process.exit(failed ? 1 : 0);
}

/** Runs one target in a worker thread, watching that its checks keep returning. */
function inWorker(job: Job): Promise<Report> {
  // npm run fuzz runs this file with tsx, whose loader a worker thread does not inherit: the worker registers it first.
  const worker = new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`, { eval: true, workerData: job });
  return new Promise((resolve, reject) => {
    let calls = -1;
    let lastCall = Date.now();
    const watch = setInterval(() => {
      if (Atomics.load(job.progress, 1) !== calls) {
        calls = Atomics.load(job.progress, 1);
        lastCall = Date.now();
      } else if (Date.now() - lastCall > HANG_MS) {
        clearInterval(watch);
        void worker.terminate();
        // fast-check draws the same inputs from the same seed: the hung one is that index of the sample.
        const index = Atomics.load(job.progress, 0);
        const input = fc.sample(TARGETS.find((t) => t.name === job.name)!.arbitrary, { seed: job.seed, numRuns: index + 1 })[index];
        resolve({ target: job.name, seed: job.seed, runs: index + 1, slowestMs: HANG_MS, failure: { input: printable(input), error: `no answer within ${HANG_MS / 1000} s (the input, or one shrunk from it, hangs; limit ${SLOW_MS} ms)` } });
      }
    }, 1000);
    worker.once('message', (report: Report) => {
      clearInterval(watch);
      resolve(report);
    });
    worker.once('error', (err) => {
      clearInterval(watch);
      reject(err);
    });
  });
}
