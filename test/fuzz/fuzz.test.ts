import { describe, expect, it } from 'vitest';
import { fuzz } from './harness.js';
import { TARGETS } from './targets.js';

/** The short pass `npm test` runs; `npm run fuzz` runs the same targets for a million inputs each. */
const RUNS = 2_000;
/** Fixed, so that a failure here is the same input on every machine; `npm run fuzz` draws new seeds. */
const SEED = 15;

describe('fuzz targets (short pass)', () => {
  for (const target of TARGETS) {
    it(target.name, () => {
      const report = fuzz(target, { runs: RUNS, seed: SEED });
      expect(report.failure, report.failure && `seed ${SEED}, input ${report.failure.input}\n${report.failure.error}`).toBeUndefined();
    });
  }
});
