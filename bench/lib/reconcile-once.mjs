// One tor-reconcile plan or apply done through the library, the way the CLI wires it (src/cli/commands/
// src/reconcile/reconcile.ts: loadSpec → openTarget → option table → readLiveState → computePlan; then
// reconcileOnce: applyPlan and the verifying re-read), timed inside the process: module loading and node's start are excluded,
// everything from reading the spec to the verified result is included. Nothing is rendered.
// Usage: node bench/lib/reconcile-once.mjs apply|plan SPEC CONTROL   → one JSON line on stdout.
// The build under test: BENCH_DIST (bench/run.mjs's frozen copy), else ../../dist.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dist = process.env.BENCH_DIST ?? fileURLToPath(new URL('../../dist/', import.meta.url));
const load = (p) => import(pathToFileURL(path.join(dist, p)).href);
const { reconcileOnce, tableFor } = await load('reconcile/reconcile.js');
const { resolveDesired } = await load('reconcile/desired.js');
const { readLiveState } = await load('reconcile/live.js');
const { computePlan, isEmptyPlan } = await load('reconcile/plan.js');
const { openTarget } = await load('reconcile/target.js');
const { loadSpec, recheckOptions } = await load('spec/index.js');
const { OptionTable } = await load('tor/config/types.js');

const [mode, spec, control] = process.argv.slice(2);
if (!['apply', 'plan'].includes(mode) || !spec || !control) {
  console.error('usage: reconcile-once.mjs apply|plan SPEC CONTROL');
  process.exit(64);
}
const now = () => performance.now();
const phases = {};
const t0 = now();
let t = t0;
const lap = (name) => {
  const n = now();
  phases[name] = n - t;
  t = n;
};

let { state } = await loadSpec([spec]);
lap('loadSpec');
const target = await openTarget(state, { control, start: false });
const conn = target.client.connection;
const base = conn.stats;
lap('connect');
const table = await tableFor(target.client);
if (table !== OptionTable.bundled()) ({ state } = recheckOptions(state, table));
const ctx = { table, target: target.address, ...(process.getuid ? { uid: process.getuid() } : {}) };
const live = await readLiveState(target.client, state);
lap('readLiveState');
const plan = computePlan(state, live, ctx);
lap('computePlan');
let result = { ok: plan.errors.length === 0 };
if (mode === 'apply' && !isEmptyPlan(plan)) {
  // Steps are reported in batches (all generated keys once persisted, a pipelined batch once every reply is
  // in): the time from one batch's report to the next is what that batch cost.
  const applyStart = now();
  let last = applyStart;
  const batches = {};
  ({ result } = await reconcileOnce(target.client, resolveDesired(state), ctx, {
    plan,
    onStep: (r) => {
      const n = now();
      batches[r.step.op] = (batches[r.step.op] ?? 0) + (n - last);
      last = n;
    },
  }));
  const end = now();
  lap('applyPlan');
  phases.apply = { ...batches, 'verify+records': end - last };
}
const total = now() - t0;
const stats = conn.stats;
await target.client.close();
const failed = result.results?.filter((r) => r.status !== 'done') ?? [];
console.log(
  JSON.stringify({
    ok: result.ok,
    total,
    phases,
    steps: plan.steps.length,
    commands: stats.commands - base.commands,
    roundTrips: stats.roundTrips - base.roundTrips,
    nudges: stats.nudges - base.nudges,
    ...(result.ok ? {} : { errors: [...plan.errors.map((e) => e.message), ...failed.slice(0, 3).map((r) => `${r.status}: ${r.error ?? ''}`), ...(result.remaining ?? []).slice(0, 3).map((c) => `remaining ${c.kind}:${c.id}`)] }),
  }),
);
process.exitCode = result.ok ? 0 : 1;
