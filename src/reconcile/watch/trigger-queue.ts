/**
 * When to reconcile: requests wait for a quiet period (debounce), coalesce into one pending trigger (the most
 * important one names it), and run one at a time; a request during a run is served by the next run.
 */
import type { Trigger } from './types.js';

const TRIGGER_RANK: Record<Trigger, number> = { resync: 0, drift: 1, reconnect: 2, spec: 3, start: 4 };

export class TriggerQueue {
  readonly #debounceMs: number;
  readonly #run: (trigger: Trigger) => Promise<void>;
  #pending: Trigger | undefined;
  #running: Promise<void> | undefined;
  #debounceTimer: NodeJS.Timeout | undefined;
  #idleWaiters: Array<() => void> = [];
  #stopped = false;

  constructor(debounceMs: number, run: (trigger: Trigger) => Promise<void>) {
    this.#debounceMs = debounceMs;
    this.#run = run;
  }

  /** Ask for a run; `now` skips the debounce. Ignored once stopped. */
  request(trigger: Trigger, now = false): void {
    if (this.#stopped) return;
    if (!this.#pending || TRIGGER_RANK[trigger] > TRIGGER_RANK[this.#pending]) this.#pending = trigger;
    clearTimeout(this.#debounceTimer);
    if (now || this.#debounceMs === 0) {
      this.#debounceTimer = undefined;
      this.#kick();
      return;
    }
    this.#debounceTimer = setTimeout(() => {
      this.#debounceTimer = undefined;
      this.#kick();
    }, this.#debounceMs);
  }

  /** A run is in progress or scheduled. */
  get busy(): boolean {
    return Boolean(this.#running || this.#pending || this.#debounceTimer);
  }

  /** Resolves when no run is in progress or scheduled. */
  idle(): Promise<void> {
    if (!this.#running && !this.#pending && !this.#debounceTimer) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  /** Accept no more requests and drop the scheduled one; resolves when no run is in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#debounceTimer);
    while (this.#running) await this.#running;
  }

  #kick(): void {
    if (this.#running || !this.#pending) return;
    const trigger = this.#pending;
    this.#pending = undefined;
    this.#running = this.#run(trigger).finally(() => {
      this.#running = undefined;
      if (this.#pending && !this.#debounceTimer) this.#kick();
      else if (!this.#pending && !this.#debounceTimer) for (const w of this.#idleWaiters.splice(0)) w();
    });
  }
}
