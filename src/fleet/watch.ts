/**
 * `watch` over the targets of a fleet spec (issue #17): one single-tor Watcher per target, each with its own
 * connection, reconnect backoff, triggers and metrics, all following the same spec files. A target that is
 * down only makes its own watcher retry; the others keep enforcing.
 */
import type { DesiredState, FleetTarget } from '../spec/model.js';
import { Watcher, type WatchHealth, type WatchLogEntry, type WatchOptions } from '../reconcile/watch.js';
import { loadFrontends } from './balanced.js';
import { targetState } from './desired.js';

export interface FleetWatchOptions extends Omit<WatchOptions, 'load' | 'control' | 'log'> {
  /** Loads the fleet spec (with a target's own option table when given). */
  load: (table: Parameters<WatchOptions['load']>[0]) => Promise<DesiredState>;
  log: (target: string, entry: WatchLogEntry) => void;
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

  constructor(selected: readonly FleetTarget[], options: FleetWatchOptions) {
    const { load, log, ...rest } = options;
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
  }

  async stop(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.watcher.stop()));
  }

  async idle(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.watcher.idle()));
  }

  /** Healthy when every target is. */
  health(): { ok: boolean; targets: Record<string, WatchHealth> } {
    const targets = Object.fromEntries(this.targets.map((t) => [t.name, t.watcher.health()]));
    return { ok: Object.values(targets).every((h) => h.ok), targets };
  }
}
