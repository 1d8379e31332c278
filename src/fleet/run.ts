/**
 * plan, apply and status across the targets of a fleet spec (issue #17), on top of the single-tor
 * reconciler: each target gets its own DesiredState (desired.ts), its own connection, its own option table
 * (the spec's options re-checked against it) and its own plan, and is applied with reconcileOnce like a
 * spec of one tor. Reads run concurrently; applies run `parallelism` at a time. A target that cannot be
 * reached, is refused by tor or fails keeps its error and never stops the others.
 */
import { recheckOptions } from '../spec/index.js';
import type { DesiredState, FleetTarget } from '../spec/model.js';
import { OptionTable } from '../tor/config/types.js';
import { resolveDesired } from '../reconcile/desired.js';
import { readLiveState } from '../reconcile/live.js';
import { computePlan, isEmptyPlan, type PlanContext } from '../reconcile/plan.js';
import { reconcileOnce, tableFor } from '../reconcile/reconcile.js';
import { liveServiceStatus, type ServiceStatus } from '../reconcile/status.js';
import { openTarget, type Target } from '../reconcile/target.js';
import type { ApplyResult, Plan, StepResult } from '../reconcile/types.js';
import { frontendChanged, loadFrontends, planFrontend, writeFrontend, writeNewFrontendKeys, type Frontend, type FrontendPlan } from './balanced.js';
import { targetState } from './desired.js';
import type { ObOutcome } from './onionbalance.js';

/** Without --parallelism: enough to overlap network waits, few enough not to surprise anyone. */
export const DEFAULT_PARALLELISM = 4;

export interface FleetOptions {
  /** Salt of the plans' secrets digest. */
  salt?: string;
  /** Per-command timeout (ms). */
  timeout?: number;
  /** Connected, before anything is sent (the CLI traces commands from here on). */
  onConnected?: (name: string, target: Target) => void;
}

/** One target's part of a fleet run: planned (and maybe applied), or failed with its error. */
export interface TargetRun {
  target: FleetTarget;
  /** The control address, once known. */
  address: string;
  desired: DesiredState;
  plan?: Plan;
  /** Set by applyFleet: the apply's result (absent when there was nothing to do or it failed before). */
  result?: ApplyResult;
  /** Why this target failed: unreachable, refused by tor, a spec its tor's option table refuses… */
  error?: unknown;
  /** @internal the open connection, with what apply needs. */
  session?: { target: Target; ctx: PlanContext };
}

/** A balanced service's frontend in a run: what its files should be, and after apply whether they were written. */
export interface FrontendRun {
  front: Frontend;
  plan: FrontendPlan;
  /** Set by applyFleet: the files were written (or were already right); an error otherwise. */
  applied?: boolean;
  /** Set by applyFleet when the plan started, reloaded or restarted a managed Onionbalance: what it came to. */
  onionbalance?: ObOutcome;
  error?: unknown;
}

export interface FleetRun {
  targets: TargetRun[];
  /** The balanced services whose backends are all among the selected targets. */
  frontends: FrontendRun[];
  fleet: DesiredState;
  close(): Promise<void>;
}

/** Connect to every target at once and plan each; connections stay open for applyFleet until `close`. */
export async function planFleet(fleet: DesiredState, selected: readonly FleetTarget[], options: FleetOptions = {}): Promise<FleetRun> {
  const fronts = await loadFrontends(fleet);
  const targets = await Promise.all(selected.map((t) => planTarget(fleet, t, fronts, options)));
  const names = new Set(selected.map((t) => t.name));
  // A frontend lists every backend: with some of them not selected, their addresses are not known here.
  const complete = fronts.filter((f) => f.service.backends.every((b) => names.has(b)));
  const frontends = await Promise.all(complete.map(async (front) => ({ front, plan: await planFrontend(front, addressesIn(targets)) })));
  return {
    targets,
    frontends,
    fleet,
    close: async () => void (await Promise.all(targets.map((t) => t.session?.target.client.close().catch(() => {})))),
  };
}

/** A target's service addresses: after applying, the verifying re-plan's; else the plan's. */
function addressesIn(targets: readonly TargetRun[]) {
  return (name: string) => {
    const t = targets.find((x) => x.target.name === name);
    return t?.result?.addresses ?? t?.plan?.addresses;
  };
}

async function planTarget(fleet: DesiredState, target: FleetTarget, fronts: readonly Frontend[], options: FleetOptions): Promise<TargetRun> {
  let desired = targetState(fleet, target, fronts);
  const run: TargetRun = { target, address: target.control, desired };
  let opened: Target | undefined;
  try {
    opened = await openTarget(desired, { start: false, ...(options.timeout ? { timeout: options.timeout } : {}) });
    run.address = opened.address;
    options.onConnected?.(target.name, opened);
    const table = await tableFor(opened.client);
    // Only the options depend on the table: the fleet spec's are checked again, then this target's derived.
    if (table !== OptionTable.bundled()) run.desired = desired = targetState(recheckOptions(fleet, table).state, target, fronts);
    const ctx: PlanContext = { table, target: opened.address, ...(process.getuid ? { uid: process.getuid() } : {}), ...(options.salt !== undefined ? { salt: options.salt } : {}) };
    run.plan = computePlan(desired, await readLiveState(opened.client, desired), ctx);
    run.session = { target: opened, ctx };
  } catch (err) {
    run.error = err;
    await opened?.client.close().catch(() => {});
  }
  return run;
}

export interface FleetApplyOptions {
  /** How many targets are applied at once (default DEFAULT_PARALLELISM). */
  parallelism?: number;
  signal?: AbortSignal;
  onStep?: (name: string, result: StepResult, index: number, total: number) => void;
}

/**
 * Apply every planned target whose plan has changes and no errors, `parallelism` at a time. A failure is
 * kept on its target (`error`, or a result that is not ok); the others go on.
 */
export async function applyFleet(run: FleetRun, options: FleetApplyOptions = {}): Promise<void> {
  const todo = run.targets.filter((t) => t.session && t.plan && !t.plan.errors.length && !isEmptyPlan(t.plan));
  // A backend's ob_config names the frontend's address: its key is kept first.
  await writeNewFrontendKeys(run.frontends.map((f) => f.front), run.fleet.stateDirectory);
  await eachLimited(todo, Math.max(1, options.parallelism ?? DEFAULT_PARALLELISM), async (t) => {
    if (options.signal?.aborted) return;
    try {
      const { result } = await reconcileOnce(t.session!.target.client, resolveDesired(t.desired), t.session!.ctx, {
        plan: t.plan!,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onStep ? { onStep: (r: StepResult, i: number, total: number) => options.onStep!(t.target.name, r, i, total) } : {}),
      });
      t.result = result;
    } catch (err) {
      t.error = err;
    }
  });
  // Then Onionbalance's files, with the backends' addresses as their tors now have them.
  for (const f of run.frontends) {
    if (options.signal?.aborted || f.front.error) continue;
    try {
      f.plan = await planFrontend(f.front, addressesIn(run.targets));
      const outcome = frontendChanged(f.plan) ? await writeFrontend(f.front, f.plan) : undefined;
      if (outcome) f.onionbalance = outcome;
      f.applied = true;
    } catch (err) {
      f.error = err;
    }
  }
}

/** Whether a frontend failed: its key cannot be read, or its files could not be written. */
export function frontendFailed(f: FrontendRun): boolean {
  return f.front.error !== undefined || f.error !== undefined;
}

/** Whether a target failed: unreachable, a plan that cannot be applied, or an apply that did not finish. */
export function targetFailed(t: TargetRun): boolean {
  return t.error !== undefined || Boolean(t.plan?.errors.length) || (t.result !== undefined && !t.result.ok);
}

export interface TargetStatus {
  name: string;
  labels: Record<string, string>;
  address: string;
  services?: ServiceStatus[];
  error?: unknown;
}

export interface FrontendStatus {
  name: string;
  /** Absent while the frontend key does not exist yet. */
  address?: string;
  backends: Array<{ target: string; address: string | null; running: boolean; descriptor: boolean | null }>;
  /** With `onionbalance: { manage: true }`: the process, and whether it has loaded the config.yaml it should. */
  onionbalance?: { running: boolean; pid?: number; inSync: boolean; state: string };
}

/** `status` of every selected target, read concurrently, and of each balanced service's frontend; read-only. */
export async function fleetStatus(fleet: DesiredState, selected: readonly FleetTarget[], options: Pick<FleetOptions, 'timeout'> = {}): Promise<{ targets: TargetStatus[]; frontends: FrontendStatus[] }> {
  // A frontend key that does not exist yet is generated in memory only: status shows no address for it.
  const fronts = await loadFrontends(fleet);
  const targets = await Promise.all(
    selected.map(async (target): Promise<TargetStatus> => {
      const desired = targetState(fleet, target, fronts);
      const out: TargetStatus = { name: target.name, labels: target.labels, address: target.control };
      let opened: Target | undefined;
      try {
        opened = await openTarget(desired, { start: false, ...(options.timeout ? { timeout: options.timeout } : {}) });
        out.address = opened.address;
        out.services = await liveServiceStatus(opened.client, desired);
      } catch (err) {
        out.error = err;
      } finally {
        await opened?.client.close().catch(() => {});
      }
      return out;
    }),
  );
  const frontends = await Promise.all(
    fronts.map(async (f): Promise<FrontendStatus> => {
      const backends = f.service.backends.map((name) => {
        const s = targets.find((t) => t.name === name)?.services?.find((x) => x.name === f.service.name);
        return { target: name, address: s?.address ?? null, running: s?.running ?? false, descriptor: s?.descriptor ?? null };
      });
      // The same judgement as plan's (what config.yaml should hold, read-only): not running or stale is said so.
      const ob = f.service.onionbalance ? (await planFrontend(f, (name) => targets.find((t) => t.name === name)?.services)).onionbalance : undefined;
      return {
        name: f.service.name,
        ...(f.address && !f.newKey ? { address: f.address } : {}),
        backends,
        ...(ob ? { onionbalance: { running: ob.pid !== undefined, ...(ob.pid !== undefined ? { pid: ob.pid } : {}), inSync: !ob.action, state: ob.reason } } : {}),
      };
    }),
  );
  return { targets, frontends };
}

/** Runs `work` over `items` with at most `limit` running at once, in order of `items`. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
