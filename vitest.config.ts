import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // expect.poll waits for what a real browser, shell or server will do: on a loaded 2-core
    // machine (CI runs the e2e files side by side) a second was sometimes not enough.
    expect: { poll: { timeout: 5000 } },
    pool: 'forks',
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
