import { defineConfig } from 'vitest/config';

// Unit tests only: no tor processes, so StrykerJS (npm run mutate) can rerun them for every mutant.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    maxWorkers: 2,
  },
});
