/**
 * How many cases a property test runs. `npm run mutate` reruns the unit tests for every mutant
 * (TOR_RECONCILE_MUTATION=1): there the robustness properties run a handful of cases each, which still
 * exercises every mutated line they reach, instead of hundreds per mutant.
 */
export function propertyRuns(n: number): number {
  return process.env.TOR_RECONCILE_MUTATION ? Math.min(n, 20) : n;
}
