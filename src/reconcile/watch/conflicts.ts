/**
 * Which items another controller keeps undoing. Every revert of an item is counted; more than `threshold`
 * within `windowMs` makes it a conflict, and its reverts then wait, from `backoffMs` doubling up to
 * `maxBackoffMs`, instead of flapping against the other controller. Pure: the time is always passed in.
 */

export interface ConflictPolicy {
  threshold: number;
  windowMs: number;
  backoffMs: number;
  maxBackoffMs: number;
}

export interface Conflict {
  id: string;
  /** Reverts of the item within the window, this one included. */
  reverts: number;
  /** The item's next revert waits this long. */
  backoffMs: number;
}

interface History {
  reverts: number[];
  /** Reverts of this item wait until then. */
  backoffUntil: number;
  backoffMs: number;
}

const DEFAULT_CONFLICT_POLICY: ConflictPolicy = { threshold: 3, windowMs: 60_000, backoffMs: 1_000, maxBackoffMs: 300_000 };

export class ConflictTracker {
  readonly policy: ConflictPolicy;
  readonly #history = new Map<string, History>();

  constructor(policy: Partial<ConflictPolicy> = {}) {
    this.policy = { ...DEFAULT_CONFLICT_POLICY, ...policy };
  }

  /** Counts one revert of each item (change ids) at `now`; returns the items that are in conflict from now on. */
  noteReverts(ids: readonly string[], now: number): Conflict[] {
    const { threshold, windowMs, backoffMs, maxBackoffMs } = this.policy;
    const conflicts: Conflict[] = [];
    for (const id of ids) {
      const h = this.#history.get(id) ?? { reverts: [], backoffUntil: 0, backoffMs: 0 };
      h.reverts = h.reverts.filter((t) => now - t < windowMs);
      h.reverts.push(now);
      if (h.reverts.length > threshold) {
        h.backoffMs = Math.min(h.backoffMs ? h.backoffMs * 2 : backoffMs, maxBackoffMs);
        h.backoffUntil = now + h.backoffMs;
        conflicts.push({ id, reverts: h.reverts.length, backoffMs: h.backoffMs });
      }
      this.#history.set(id, h);
    }
    // Forget quiet items so a long-running watch keeps no history of old fights.
    for (const [id, h] of this.#history) if (!h.reverts.some((t) => now - t < windowMs) && h.backoffUntil < now) this.#history.delete(id);
    return conflicts;
  }

  /** Items whose reverts are backing off at `now`: the plan leaves them as they are in tor until then. */
  heldBack(now: number): Set<string> {
    return new Set([...this.#history].filter(([, h]) => h.backoffUntil > now).map(([id]) => id));
  }

  /** A new spec starts with no history: its items may differ from the ones fought over. */
  clear(): void {
    this.#history.clear();
  }

  /** How many items have a history (for tests: quiet ones must be forgotten). */
  get size(): number {
    return this.#history.size;
  }
}
