/**
 * The reconciler as a library: what `tor-reconcile plan`, `apply` and `watch` do, for a Node program
 * (exported from the package's root). Each call loads the spec, reaches its tor (`control`, else the spec's
 * tor.control, else the embedded tor of tor.launch, started when it is not running, as the CLI does) and
 * closes its connection when done. Built on the same openAndPlan and reconcileOnce as the CLI.
 */
import { randomBytes } from 'node:crypto';
import { loadSpec as loadSpecFiles, type LoadOptions, type LoadResult, type SpecDiagnostic } from '../../spec/index.js';
import type { ApplyOptions } from '../apply.js';
import { resolveDesired } from '../desired.js';
import { isEmptyPlan } from '../plan.js';
import { openAndPlan, reconcileOnce, type Opened } from '../reconcile.js';
import type { ApplyResult, Plan } from '../types.js';

export { SpecWatch, watch } from './watch.js';
export type { SpecWatchOptions, WatchEvents, WatchChange } from './watch.js';

/** One spec file, or several merged in order (later files win key by key). */
export type SpecFiles = string | readonly string[];

export interface ReconcilerOptions {
  /** Control address, `unix:PATH` or `tcp:HOST:PORT`; overrides the spec's tor.control. */
  control?: string;
  /** For `${env:NAME}` in the spec (default: process.env). */
  env?: Record<string, string | undefined>;
  /** Give up on a control command tor does not answer within this long (ms; default 60 s). */
  timeoutMs?: number;
  /** Start the embedded tor of tor.launch when it is not running (default true). */
  start?: boolean;
  /** The spec's warnings, once checked against the tor's own option table. */
  onWarnings?: (warnings: SpecDiagnostic[]) => void;
}

export interface ApplyCallOptions extends ReconcilerOptions, Pick<ApplyOptions, 'onStep' | 'signal' | 'lockTimeoutMs'> {}

export interface Applied {
  /** What was applied. */
  plan: Plan;
  /** ok only when every step succeeded and a fresh plan is empty (restart-only changes aside). */
  result: ApplyResult;
}

/** Load, validate and normalize spec files, offline; throws SpecErrors (every error at file:line:col). */
export function loadSpec(specs: SpecFiles, options: LoadOptions = {}): Promise<LoadResult> {
  return loadSpecFiles(files(specs), options);
}

/** What `apply` would do to the live tor: a plain, serialisable Plan (its `errors` block an apply). */
export async function plan(specs: SpecFiles, options: ReconcilerOptions = {}): Promise<Plan> {
  const opened = await open(specs, options);
  await opened.target.client.close();
  return opened.plan;
}

/**
 * Plan, apply, and verify with a fresh plan. Throws PlanBlockedError when the plan has errors (nothing is
 * sent); a step tor refuses is a result with `ok: false`, the failed step and tor's reason.
 */
export async function apply(specs: SpecFiles, options: ApplyCallOptions = {}): Promise<Applied> {
  const { onStep, signal, lockTimeoutMs, ...rest } = options;
  const { desired, target, ctx, plan } = await open(specs, rest);
  try {
    if (isEmptyPlan(plan)) return { plan, result: { ok: true, results: [], remaining: [] } };
    const applyOptions = { plan, ...(onStep ? { onStep } : {}), ...(signal ? { signal } : {}), ...(lockTimeoutMs !== undefined ? { lockTimeoutMs } : {}) };
    return await reconcileOnce(target.client, resolveDesired(desired), ctx, applyOptions);
  } finally {
    await target.client.close();
  }
}

function open(specs: SpecFiles, options: ReconcilerOptions): Promise<Opened> {
  const { control, env, timeoutMs, start, onWarnings } = options;
  return openAndPlan(files(specs), {
    ...(control !== undefined ? { control } : {}),
    ...(env ? { env } : {}),
    ...(timeoutMs !== undefined ? { timeout: timeoutMs } : {}),
    ...(onWarnings ? { onWarnings } : {}),
    start: start ?? true,
    salt: randomBytes(16).toString('hex'),
  });
}

function files(specs: SpecFiles): readonly string[] {
  return typeof specs === 'string' ? [specs] : specs;
}
