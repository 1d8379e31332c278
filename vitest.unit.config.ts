import { defineConfig } from 'vitest/config';

// Unit tests only: no tor processes, so StrykerJS (npm run mutate) can rerun them for every mutant.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    maxWorkers: 2,
    // As in vitest.config.ts: the property tests of the spec loader take seconds on a loaded machine.
    testTimeout: 60_000,
    setupFiles: ['test/helpers/property-setup.ts'],
  },
});
