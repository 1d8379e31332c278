/**
 * `watch` for library users: the Watcher behind `tor-reconcile watch`, with typed events instead of log
 * lines. The events are derived from the watcher's structured log entries (one source of truth: what the
 * CLI logs is what a program hears).
 */
import { loadSpec, formatDiagnostic } from '../../spec/index.js';
import { Watcher, type OnionHealthReport, type Trigger, type WatchHealth, type WatchLogEntry, type WatchMetrics, type WatchOptions } from '../watch.js';
import { tableFor } from '../reconcile.js';

export interface SpecWatchOptions extends Pick<WatchOptions, 'mode' | 'debounceMs' | 'resyncMs' | 'onionPollMs' | 'reconnect' | 'conflict' | 'health'> {
  /** Control address, `unix:PATH` or `tcp:HOST:PORT`; overrides the spec's tor.control. */
  control?: string;
  /** For `${env:NAME}` in the spec (default: process.env). */
  env?: Record<string, string | undefined>;
  /** Give up on a control command tor does not answer within this long (ms; default 60 s). */
  timeoutMs?: number;
}

/** One changed item, as the plan names it. */
export interface WatchChange {
  kind: string;
  id: string;
  action: string;
  reason: string;
}

export interface WatchEvents {
  /**
   * A reconcile succeeded: tor matches the spec; `changes` is what it changed (empty: nothing to do, said
   * for start, spec edits and reconnects; drift checks and resyncs that find nothing are silent).
   */
  reconcile: { trigger: Trigger; changes: WatchChange[]; durationMs: number };
  /**
   * Tor differed from the spec without a spec edit (another controller, a SIGHUP, a deleted ephemeral
   * service): `reverted` in enforce mode, only reported in warn mode.
   */
  drift: { trigger: Trigger; changes: WatchChange[]; reverted: boolean };
  /** Another controller keeps undoing an item: its reverts now back off. */
  conflict: { key: string; reverts: number; backoffMs: number };
  /**
   * Something failed and watch carries on: a reconcile (`source: 'reconcile'`), a spec edit that does not
   * load (`'spec'`: the last good spec stays in force), attach policies that cannot start (`'attach'`).
   */
  error: { source: string; message: string };
  /** Every log entry, as `tor-reconcile watch --log-format json` prints them. */
  log: WatchLogEntry;
}

type Listener<E extends keyof WatchEvents> = (payload: WatchEvents[E]) => void;

/**
 * A running watch. Add listeners before `start()` to hear the first reconcile. Unlike an EventEmitter, an
 * `error` without listeners throws nothing: watch's errors are recoverable, and reported through health().
 * A listener that throws does not disturb watch: the exception is rethrown outside it (uncaught).
 */
export class SpecWatch {
  readonly #watcher: Watcher;
  readonly #listeners = new Map<keyof WatchEvents, Set<Listener<never>>>();

  constructor(specs: string | readonly string[], options: SpecWatchOptions = {}) {
    const files = typeof specs === 'string' ? [specs] : [...specs];
    const { control, env, timeoutMs, ...tuning } = options;
    this.#watcher = new Watcher({
      ...tuning,
      specFiles: files,
      ...(control !== undefined ? { control } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      table: tableFor,
      log: (entry) => this.#dispatch(entry),
      load: async (table) => {
        const { state, warnings } = await loadSpec(files, { ...(env ? { env } : {}), ...(table ? { table } : {}) });
        if (warnings.length) this.#dispatch({ level: 'warn', event: 'spec', message: warnings.map(formatDiagnostic).join('\n') });
        return state;
      },
    });
  }

  /** Load the spec (throws SpecErrors if it is invalid), connect, reconcile once; then keep watching. */
  async start(): Promise<void> {
    await this.#watcher.start();
  }

  /** Finish the step in flight, leave everything applied in place, disconnect. Idempotent. */
  stop(): Promise<void> {
    return this.#watcher.stop();
  }

  /** What `/healthz` serves: connected, last reconcile ok, and whether the spec on disk loads. */
  health(): WatchHealth {
    return this.#watcher.health();
  }

  /** What `/onions` serves: per declared onion service, descriptor uploads, introduction points, the last self-check. */
  onionHealth(): OnionHealthReport {
    return this.#watcher.onionHealth();
  }

  /** What `/metrics` exports. */
  get metrics(): Readonly<WatchMetrics> {
    return this.#watcher.metrics;
  }

  /** Resolves when no reconcile is running or scheduled. */
  idle(): Promise<void> {
    return this.#watcher.idle();
  }

  on<E extends keyof WatchEvents>(event: E, listener: Listener<E>): this {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return this;
  }

  off<E extends keyof WatchEvents>(event: E, listener: Listener<E>): this {
    this.#listeners.get(event)?.delete(listener as Listener<never>);
    return this;
  }

  #dispatch(entry: WatchLogEntry): void {
    this.#emit('log', entry);
    const trigger = entry.trigger as Trigger;
    const changes = (entry.changes ?? []) as WatchChange[];
    if (entry.level === 'error') this.#emit('error', { source: entry.event, message: entry.message });
    else if (entry.event === 'reconcile') {
      this.#emit('reconcile', { trigger, changes, durationMs: entry.durationMs as number });
      if ((trigger === 'drift' || trigger === 'resync') && changes.length) this.#emit('drift', { trigger, changes, reverted: true });
    } else if (entry.event === 'drift') this.#emit('drift', { trigger, changes, reverted: false });
    else if (entry.event === 'conflict') this.#emit('conflict', { key: entry.key as string, reverts: entry.reverts as number, backoffMs: entry.backoffMs as number });
  }

  #emit<E extends keyof WatchEvents>(event: E, payload: WatchEvents[E]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        (listener as Listener<E>)(payload);
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }
}

/** A watch over spec files, not started yet: add listeners, then `await w.start()`. */
export function watch(specs: string | readonly string[], options: SpecWatchOptions = {}): SpecWatch {
  return new SpecWatch(specs, options);
}

