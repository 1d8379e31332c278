// Mutation testing of the pure core against the unit tests: `npm run mutate`. Not in CI, a full run is long;
// narrow it with --mutate, e.g. `npm run mutate -- --mutate 'src/tor/protocol/**/*.ts'`.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  // Unit tests only: integration tests start real tors, far too slow to rerun per mutant.
  vitest: { configFile: 'vitest.unit.config.ts' },
  coverageAnalysis: 'perTest',
  // Some unit tests run the built CLI (test/unit/cli-spec.test.ts): build the sandbox once before the tests.
  buildCommand: 'npm run build',
  // Stryker rewrites the tsconfig's extends/references for its sandbox through TypeScript's JS API, which
  // TypeScript 7 no longer has. Ours has neither to rewrite: naming no tsconfig skips that step.
  tsconfigFile: '',
  mutate: [
    'src/tor/protocol/**/*.ts',
    'src/tor/config/**/*.ts',
    'src/tor/onion/**/*.ts',
    'src/spec/**/*.ts',
    // plan.ts and its sections (plan-options.ts, plan-filesystem.ts, …), and what they plan from.
    'src/reconcile/plan*.ts',
    'src/reconcile/desired.ts',
    'src/reconcile/hsblock.ts',
    'src/reconcile/persist/torrc.ts',
    'src/reconcile/persist/plan.ts',
    'src/reconcile/attach/**/*.ts',
  ],
  // A static mutant (a module-level constant) reruns every unit test: on src/tor/protocol they were 28% of the
  // mutants and 61% of the time. Left out; `--ignoreStatic false` brings them back.
  ignoreStatic: true,
  concurrency: 2,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
};
