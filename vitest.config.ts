import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real tor processes; two cores, so keep parallelism modest.
    maxWorkers: 2,
    testTimeout: 60_000,
    // A private network that misses its bootstrap deadline (90 s) is started once more (test/net/network.ts).
    hookTimeout: 240_000,
  },
});
