/**
 * `watch` over the targets of a fleet spec (issue #17): one single-tor Watcher per target, each with its own
 * connection, reconnect backoff, triggers and metrics, all following the same spec files. A target that is
 * down only makes its own watcher retry; the others keep enforcing. A balanced service with
 * `onionbalance: { manage: true }` gets a supervisor (supervise.ts) that keeps its Onionbalance running.
 */
import type { DesiredState, FleetTarget } from '../spec/model.js';
import { Watcher, type WatchHealth, type WatchLogEntry, type WatchOptions } from '../reconcile/watch.js';
import { loadFrontends } from './balanced.js';
import { targetState } from './desired.js';
import { OnionbalanceSupervisor, type SupervisorState } from './supervise.js';

export interface FleetWatchOptions extends Omit<WatchOptions, 'load' | 'control' | 'log'> {
  /** Loads the fleet spec (with a target's own option table when given). */
  load: (table: Parameters<WatchOptions['load']>[0]) => Promise<DesiredState>;
  /** `target` is a target's name, or `onionbalance:<service>` for a supervised Onionbalance. */
  log: (target: string, entry: WatchLogEntry) => void;
  /** The balanced services with `onionbalance: { manage: true }` whose Onionbalance this watch keeps running. */
  onionbalance?: string[];
  /** Between two checks of each supervised Onionbalance (ms); default 2 s. */
  onionbalanceIntervalMs?: number;
}

export interface TargetWatcher {
  name: string;
  labels: Record<string, string>;
  watcher: Watcher;
}

/** A target's own state from a fresh load of the fleet spec; the target must still be in it. */
async function stateOf(fleet: DesiredState, name: string): Promise<DesiredState> {
  const target = fleet.targets?.find((t) => t.name === name);
  if (!target) throw new Error(`target ${name} is no longer in the spec; the last good spec stays in force for it`);
  // Only frontends whose key exists: watch never generates a frontend key (apply does, and keeps it first).
  const frontends = (await loadFrontends(fleet)).filter((f) => !f.newKey);
  return targetState(fleet, target, frontends);
}

export class FleetWatcher {
  readonly targets: TargetWatcher[];
  readonly onionbalance: OnionbalanceSupervisor[];

  constructor(selected: readonly FleetTarget[], options: FleetWatchOptions) {
    const { load, log, onionbalance = [], onionbalanceIntervalMs, ...rest } = options;
    this.onionbalance = onionbalance.map(
      (name) => new OnionbalanceSupervisor(name, { load: () => load(undefined), log: (e) => log(`onionbalance:${name}`, e), ...(onionbalanceIntervalMs ? { intervalMs: onionbalanceIntervalMs } : {}) }),
    );
    this.targets = selected.map((t) => ({
      name: t.name,
      labels: t.labels,
      watcher: new Watcher({
        ...rest,
        control: t.control,
        load: async (table) => stateOf(await load(table), t.name),
        log: (e: WatchLogEntry) => log(t.name, e),
      }),
    }));
  }

  /** Every target's watcher started together; resolves when each has done its first reconcile (or is retrying). */
  async start(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.watcher.start()));
    // After the backends' first reconcile: Onionbalance reads config.yaml, which names their services.
    await Promise.all(this.onionbalance.map((s) => s.start()));
  }

  /** Onionbalance is left running (detached; the next apply or watch finds it by its pid record). */
  async stop(): Promise<void> {
    await Promise.all([...this.targets.map((t) => t.watcher.stop()), ...this.onionbalance.map((s) => s.stop())]);
  }

  async idle(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.watcher.idle()));
  }

  /** Healthy when every target is and every supervised Onionbalance runs. */
  health(): { ok: boolean; targets: Record<string, WatchHealth>; onionbalance?: Record<string, SupervisorState> } {
    const targets = Object.fromEntries(this.targets.map((t) => [t.name, t.watcher.health()]));
    const ok = Object.values(targets).every((h) => h.ok) && this.onionbalance.every((s) => s.state.running);
    return { ok, targets, ...(this.onionbalance.length ? { onionbalance: Object.fromEntries(this.onionbalance.map((s) => [s.service, { ...s.state }])) } : {}) };
  }
}
