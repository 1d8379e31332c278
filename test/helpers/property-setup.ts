// vitest.unit.config.ts's setup: property tests without their own numRuns run fewer cases under `npm run
// mutate` too (see property.ts).
import fc from 'fast-check';

if (process.env.TOR_RECONCILE_MUTATION) fc.configureGlobal({ numRuns: 20 });
