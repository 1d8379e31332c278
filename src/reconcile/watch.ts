/**
 * The long-running reconciler: keeps tor equal to the spec when the spec changes (its directory is watched,
 * and acted on by content hash), when something else changes tor (CONF_CHANGED), when tor restarts or the
 * connection drops (reconnect with jittered backoff, then a full reconcile), and every `resyncMs` anyway.
 *
 * One reconcile runs at a time; triggers that arrive meanwhile coalesce into the next one. Our own writes
 * come back as CONF_CHANGED: an event whose values already equal the spec is not drift, and anything else
 * costs one read that finds nothing to do — never a write. Another controller that keeps undoing us is a
 * conflict: the key is reported and its reverts back off exponentially instead of flapping.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { watch as watchFiles, type FSWatcher } from 'chokidar';
import type { DesiredOption, DesiredState } from '../spec/model.js';
import type { TorClient } from '../tor/client.js';
import { sameValue } from '../tor/config/normalize.js';
import type { OptionTable } from '../tor/config/types.js';
import type { ConfChangedEvent } from '../tor/events.js';
import { reveal } from '../tor/secret.js';
import { TorState } from '../tor/state/index.js';
import { applyPlan } from './apply.js';
import { changeId, resolveDesired } from './desired.js';
import { AttachEngine } from './attach/engine.js';
import { readLiveState } from './live.js';
import { computePlan, type PlanContext } from './plan.js';
import { openTarget, type Target } from './target.js';
import { normalizeDirectory } from './hsblock.js';
import type { Change, LiveState } from './types.js';

export type Trigger = 'start' | 'spec' | 'drift' | 'resync' | 'reconnect';

export interface WatchLogEntry {
  level: 'info' | 'warn' | 'error';
  event: string;
  message: string;
  [field: string]: unknown;
}

export interface SpecLoader {
  /** Loads the spec with tor's own option table; throws to say the spec is invalid (message shown as is). */
  (table: OptionTable | undefined): Promise<DesiredState>;
}

export interface WatchOptions {
  /** The spec files: their directories are watched. */
  specFiles: string[];
  load: SpecLoader;
  /** Overrides tor.control. */
  control?: string;
  /** `enforce` reverts drift; `warn` never writes, only reports. */
  mode?: 'enforce' | 'warn';
  /** Quiet period before acting on a burst of events (ms). */
  debounceMs?: number;
  /** Full reconcile even without events (ms), for controllers behind filters that hide CONF_CHANGED. */
  resyncMs?: number;
  reconnect?: { initialMs?: number; maxMs?: number };
  /** A key reverted more than `threshold` times within `windowMs` is a conflict; its reverts then back off. */
  conflict?: { threshold?: number; windowMs?: number; backoffMs?: number; maxBackoffMs?: number };
  /** Per-command timeout on the control connection (ms). */
  timeoutMs?: number;
  /** Resolve the option table for a connected tor (the CLI's tableFor). */
  table: (client: TorClient) => Promise<OptionTable>;
  log: (entry: WatchLogEntry) => void;
}

export interface WatchMetrics {
  reconciles: { ok: number; error: number };
  driftsDetected: number;
  driftsReverted: number;
  conflicts: number;
  errors: number;
  specReloads: { ok: number; error: number };
  reconnects: number;
  lastSuccess: number | undefined;
  onionServicesUp: number;
  connected: boolean;
}

interface KeyHistory {
  reverts: number[];
  /** Reverts of this key wait until then. */
  backoffUntil: number;
  backoffMs: number;
}

const TRIGGER_RANK: Record<Trigger, number> = { resync: 0, drift: 1, reconnect: 2, spec: 3, start: 4 };

export class Watcher {
  readonly metrics: WatchMetrics = {
    reconciles: { ok: 0, error: 0 },
    driftsDetected: 0,
    driftsReverted: 0,
    conflicts: 0,
    errors: 0,
    specReloads: { ok: 0, error: 0 },
    reconnects: 0,
    lastSuccess: undefined,
    onionServicesUp: 0,
    connected: false,
  };
  readonly #o: Required<Omit<WatchOptions, 'control' | 'reconnect' | 'conflict' | 'timeoutMs'>> & Pick<WatchOptions, 'control' | 'timeoutMs'>;
  readonly #reconnect: { initialMs: number; maxMs: number };
  readonly #conflict: { threshold: number; windowMs: number; backoffMs: number; maxBackoffMs: number };
  #desired!: DesiredState;
  /** The managed options of #desired by lower-case name, for telling our own CONF_CHANGED echoes apart. */
  #managed: ReadonlyMap<string, DesiredOption> = new Map();
  #specHash = '';
  #badHash = '';
  #table: OptionTable | undefined;
  #target: Target | undefined;
  #ctx: PlanContext | undefined;
  #files: FSWatcher | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  #debounceTimer: NodeJS.Timeout | undefined;
  #specTimer: NodeJS.Timeout | undefined;
  #pending: Trigger | undefined;
  #running: Promise<void> | undefined;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #abort = new AbortController();
  #history = new Map<string, KeyHistory>();
  #lastOk = false;
  #reconnecting: Promise<void> | undefined;
  #idleWaiters: Array<() => void> = [];
  #engine: { state: TorState; engine: AttachEngine } | undefined;
  /**
   * Spec reloads and attach-engine starts and stops, one at a time: two at once could start two engines, and
   * stop() waits for the one in progress so that none starts after it.
   */
  #serial: Promise<void> = Promise.resolve();

  constructor(options: WatchOptions) {
    this.#o = { mode: 'enforce', debounceMs: 100, resyncMs: 300_000, ...options };
    this.#reconnect = { initialMs: 250, maxMs: 30_000, ...options.reconnect };
    this.#conflict = { threshold: 3, windowMs: 60_000, backoffMs: 1_000, maxBackoffMs: 300_000, ...options.conflict };
  }

  get client(): TorClient | undefined {
    return this.#target?.client;
  }

  get desired(): DesiredState {
    return this.#desired;
  }

  /** The live attach-policy engine, while the spec has policies tor cannot enforce by itself. */
  get attachEngine(): AttachEngine | undefined {
    return this.#engine?.engine;
  }

  /** Healthy: connected to tor and the last reconcile succeeded. */
  health(): { ok: boolean; connected: boolean; lastReconcileOk: boolean; lastSuccess: number | undefined } {
    return { ok: this.metrics.connected && this.#lastOk, connected: this.metrics.connected, lastReconcileOk: this.#lastOk, lastSuccess: this.metrics.lastSuccess };
  }

  /**
   * Load the spec (an invalid spec at start is an error: there is no last good one), connect, reconcile once,
   * and start watching. Resolves when the first reconcile is done.
   */
  async start(): Promise<void> {
    this.#specHash = await this.#hashSpecs();
    this.#setDesired(await this.#o.load(undefined));
    try {
      await this.#connect();
    } catch (err) {
      // In a deployment tor may come up after us: keep trying rather than exit.
      this.#lost(err as Error);
    }
    this.#files = watchFiles([...new Set(this.#o.specFiles.map((f) => path.dirname(path.resolve(f))))], { ignoreInitial: true, depth: 0 });
    this.#files.on('all', () => this.#specChanged());
    this.#files.on('error', (err) => this.#log('warn', 'spec-watch', `watching the spec directory: ${(err as Error).message}`));
    this.#armResync();
    this.request('start', true);
    await this.idle();
  }

  /** Finish the step in flight, leave everything applied in place, and disconnect. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    this.#abort.abort();
    clearTimeout(this.#resyncTimer);
    clearTimeout(this.#debounceTimer);
    clearTimeout(this.#specTimer);
    await this.#files?.close();
    await this.#running;
    await this.#reconnecting?.catch(() => {});
    await this.#serial;
    await this.#stopEngine();
    const target = this.#target;
    this.#target = undefined;
    if (target?.launched) await target.launched.stop();
    else await target?.client.close();
    this.metrics.connected = false;
  }

  /** Resolves when no reconcile is running or scheduled. */
  idle(): Promise<void> {
    if (!this.#running && !this.#pending && !this.#debounceTimer) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  /** Ask for a reconcile; `now` skips the debounce. */
  request(trigger: Trigger, now = false): void {
    if (this.#stopping) return;
    if (!this.#pending || TRIGGER_RANK[trigger] > TRIGGER_RANK[this.#pending]) this.#pending = trigger;
    if (now || this.#o.debounceMs === 0) {
      clearTimeout(this.#debounceTimer);
      this.#debounceTimer = undefined;
      this.#kick();
      return;
    }
    clearTimeout(this.#debounceTimer);
    this.#debounceTimer = setTimeout(() => {
      this.#debounceTimer = undefined;
      this.#kick();
    }, this.#o.debounceMs);
  }

  #kick(): void {
    if (this.#running || !this.#pending) return;
    const trigger = this.#pending;
    this.#pending = undefined;
    this.#running = this.#reconcile(trigger).finally(() => {
      this.#running = undefined;
      if (this.#pending && !this.#debounceTimer) this.#kick();
      else if (!this.#pending && !this.#debounceTimer) for (const w of this.#idleWaiters.splice(0)) w();
    });
  }

  async #reconcile(trigger: Trigger): Promise<void> {
    const target = this.#target;
    if (!target || this.#stopping) return;
    const started = Date.now();
    try {
      const desired = this.#desired;
      const live = await readLiveState(target.client, desired);
      const plan = computePlan(desired, live, { ...this.#ctx!, leaveAlone: this.#backedOff() });
      this.metrics.onionServicesUp = servicesUp(this.#desired, live);
      const changes = plan.changes.filter((c) => c.action !== 'noop' && !c.needsRestart);
      if (plan.errors.length) {
        this.#fail(trigger, started, `the plan is blocked: ${plan.errors.map((e) => e.message).join(' | ')}`);
        return;
      }
      if (!plan.steps.length) {
        this.#succeed();
        if (trigger !== 'drift' && trigger !== 'resync') this.#log('info', 'reconcile', 'tor matches the spec', { trigger, changes: [], durationMs: Date.now() - started });
        return;
      }
      if (trigger === 'drift' || trigger === 'resync') this.metrics.driftsDetected++;
      if (this.#o.mode === 'warn') {
        this.#lastOk = false;
        this.#log('warn', 'drift', `tor differs from the spec (warn mode: not reverted): ${describe(changes)}`, { trigger, changes: summarize(changes) });
        return;
      }
      if (trigger === 'drift' || trigger === 'resync') this.#noteReverts(changes);
      const result = await applyPlan(target.client, plan, desired, this.#ctx!, { signal: this.#abort.signal, skipVerify: true });
      if (!result.ok) {
        const failed = result.results.find((r) => r.status === 'failed');
        this.#fail(trigger, started, failed ? `${failed.step.display}: ${failed.error}${failed.torWarnings?.length ? ` (tor: ${failed.torWarnings.join('; ')})` : ''}` : (result.error ?? 'interrupted'), summarize(changes));
        return;
      }
      if (trigger === 'drift' || trigger === 'resync') this.metrics.driftsReverted++;
      this.#succeed();
      this.#log('info', 'reconcile', `${trigger === 'drift' ? 'reverted drift' : 'applied'}: ${describe(changes)}`, { trigger, changes: summarize(changes), commands: plan.summary.commands, durationMs: Date.now() - started });
    } catch (err) {
      // A dropped connection is handled by the reconnect loop; anything else is this reconcile's failure.
      if (this.#target?.client.connection.isClosed) return;
      this.#fail(trigger, started, (err as Error).message);
    }
  }

  #succeed(): void {
    this.#lastOk = true;
    this.metrics.reconciles.ok++;
    this.metrics.lastSuccess = Date.now();
  }

  #fail(trigger: Trigger, started: number, message: string, changes: unknown[] = []): void {
    this.#lastOk = false;
    this.metrics.reconciles.error++;
    this.metrics.errors++;
    this.#log('error', 'reconcile', message, { trigger, changes, durationMs: Date.now() - started });
  }

  /** Counts reverts per item; past the threshold the item is in conflict and its next reverts wait. */
  #noteReverts(changes: Change[]): void {
    const now = Date.now();
    for (const c of changes) {
      const key = changeId(c.kind, c.id);
      const h = this.#history.get(key) ?? { reverts: [], backoffUntil: 0, backoffMs: 0 };
      h.reverts = h.reverts.filter((t) => now - t < this.#conflict.windowMs);
      h.reverts.push(now);
      if (h.reverts.length > this.#conflict.threshold) {
        h.backoffMs = Math.min(h.backoffMs ? h.backoffMs * 2 : this.#conflict.backoffMs, this.#conflict.maxBackoffMs);
        h.backoffUntil = now + h.backoffMs;
        this.metrics.conflicts++;
        this.#log('warn', 'conflict', `${key}: another controller keeps changing it (${h.reverts.length} reverts in ${Math.round(this.#conflict.windowMs / 1000)}s); next revert in ${h.backoffMs / 1000}s`, { key, reverts: h.reverts.length, backoffMs: h.backoffMs });
        const timer = setTimeout(() => this.request('drift'), h.backoffMs);
        timer.unref();
      }
      this.#history.set(key, h);
    }
    // Forget quiet items so a long-running watch keeps no history of old fights.
    for (const [key, h] of this.#history) if (!h.reverts.some((t) => now - t < this.#conflict.windowMs) && h.backoffUntil < now) this.#history.delete(key);
  }

  /** Items whose reverts are backing off: the plan leaves them as they are in tor until then. */
  #backedOff(): Set<string> {
    const now = Date.now();
    return new Set([...this.#history].filter(([, h]) => h.backoffUntil > now).map(([k]) => k));
  }

  #setDesired(desired: DesiredState): void {
    this.#desired = desired;
    this.#managed = resolveDesired(desired).byName;
  }

  /** Runs `task` after every reload and engine change before it (whatever their outcome). */
  #exclusive(task: () => Promise<void>): Promise<void> {
    const run = this.#serial.then(task);
    this.#serial = run.catch(() => {});
    return run;
  }

  #onConfChanged(event: ConfChangedEvent): void {
    if (this.#stopping) return;
    if (this.#isEcho(event)) return;
    this.request('drift');
  }

  /**
   * Our own SETCONF comes back as CONF_CHANGED: when every managed key in the event already has its desired
   * value, there is nothing to do and no need even to read. HiddenService* lines are not compared here (the
   * block is compared as a whole by the plan); they cost one read.
   */
  #isEcho(event: ConfChangedEvent): boolean {
    const byName = new Map<string, string[]>();
    for (const [k, v] of event.changes) {
      const list = byName.get(k) ?? [];
      if (v !== null) list.push(v);
      byName.set(k, list);
    }
    for (const [name, values] of byName) {
      if (name.startsWith('HiddenService')) {
        if (this.#desired.onionServices.some((s) => s.type === 'filesystem') || this.#desired.prune) return false;
        continue;
      }
      const want = this.#managed.get(name.toLowerCase());
      if (!want) continue;
      const info = this.#table?.get(want.name);
      if (!info || want.value === null) return false;
      if (!sameValue(info, want.value.map(reveal), values)) return false;
    }
    return true;
  }

  #specChanged(): void {
    clearTimeout(this.#specTimer);
    // Editors save in bursts (write, rename, chmod); ConfigMaps swap a symlink: wait for quiet, then hash.
    this.#specTimer = setTimeout(() => void this.#reloadSpec(), Math.max(this.#o.debounceMs, 50));
  }

  #reloadSpec(): Promise<void> {
    return this.#exclusive(async () => {
      if (this.#stopping) return;
      const hash = await this.#hashSpecs().catch(() => '');
      // The same invalid content is reported once, not at every resync.
      if (this.#stopping || !hash || hash === this.#specHash || hash === this.#badHash) return;
      let next: DesiredState;
      try {
        next = await this.#o.load(this.#table);
      } catch (err) {
        this.#badHash = hash;
        this.metrics.specReloads.error++;
        this.metrics.errors++;
        this.#log('error', 'spec', `the new spec is invalid; the last good spec stays in force:\n${(err as Error).message}`, { files: this.#o.specFiles });
        return;
      }
      if (this.#stopping) return;
      this.#specHash = hash;
      this.#badHash = '';
      this.#setDesired(next);
      this.#history.clear();
      this.metrics.specReloads.ok++;
      this.#log('info', 'spec', 'spec changed: reconciling', { files: this.#o.specFiles });
      this.request('spec', true);
      await this.#syncEngine().catch((err: Error) => this.#log('error', 'attach', `cannot enforce attach policies: ${err.message}`));
    });
  }

  async #hashSpecs(): Promise<string> {
    const h = createHash('sha256');
    for (const f of this.#o.specFiles) h.update(await readFile(f)).update('\0');
    return h.digest('hex');
  }

  #armResync(): void {
    clearTimeout(this.#resyncTimer);
    this.#resyncTimer = setTimeout(() => {
      void this.#reloadSpec();
      this.request('resync');
      this.#armResync();
    }, this.#o.resyncMs);
    this.#resyncTimer.unref();
  }

  async #connect(): Promise<void> {
    const target = await openTarget(this.#desired, {
      ...(this.#o.control ? { control: this.#o.control } : {}),
      ...(this.#o.timeoutMs ? { timeout: this.#o.timeoutMs } : {}),
      start: true,
      child: true,
      log: (m) => this.#log('info', 'tor', m),
    });
    try {
      const table = await this.#o.table(target.client);
      if (table !== this.#table) {
        await this.#exclusive(async () => {
          this.#setDesired(await this.#o.load(table));
          this.#table = table;
        });
      }
      // WARN stays subscribed so each apply's own subscription does not cost two SETEVENTS.
      await target.client.on('WARN', () => {});
      await target.client.on('CONF_CHANGED', (e) => this.#onConfChanged(e));
    } catch (err) {
      await target.client.close();
      throw err;
    }
    this.#target = target;
    this.#ctx = { table: this.#table!, target: target.address, ...(process.getuid ? { uid: process.getuid() } : {}) };
    this.metrics.connected = true;
    this.#log('info', 'tor', `connected to ${target.address} (tor ${target.client.version})`);
    target.client.connection.onClose((err) => this.#lost(err));
    // Attach policies failing to start must not cost the rest of reconciliation; the error is reported.
    await this.#exclusive(async () => {
      // The engine of a lost connection: stopped for its listeners and timers (tor forgot it already).
      await this.#stopEngine();
      await this.#syncEngine();
    }).catch((err: Error) => this.#log('error', 'attach', `cannot enforce attach policies: ${err.message}`));
  }

  /**
   * Run the attach engine exactly when the spec has policies that need it (and update its policies). Only
   * within #exclusive; stop() may begin at any await, and no engine may start after it.
   */
  async #syncEngine(): Promise<void> {
    const spec = this.#desired.attach;
    const live = spec !== undefined && resolveDesired(this.#desired).attach.livePolicies.length > 0;
    if (live && this.#engine) {
      this.#engine.engine.update(spec);
      return;
    }
    if (!live || this.#stopping) return this.#stopEngine();
    const client = this.#target?.client;
    if (!client) return;
    const state = await TorState.create(client);
    let engine: AttachEngine | undefined;
    try {
      if (!this.#stopping) engine = await AttachEngine.start(state, spec, (level, event, message, fields) => this.#log(level, event, message, fields));
    } catch (err) {
      await state.close().catch(() => {});
      throw err;
    }
    if (!engine || this.#stopping) {
      await engine?.stop().catch(() => {});
      await state.close().catch(() => {});
      return;
    }
    this.#engine = { state, engine };
    this.#log('info', 'attach', `enforcing attach policies ${spec.policies.map((p) => p.name).join(', ')} (default ${spec.default})`);
  }

  async #stopEngine(): Promise<void> {
    const e = this.#engine;
    this.#engine = undefined;
    if (!e) return;
    await e.engine.stop().catch(() => {});
    await e.state.close().catch(() => {});
  }

  #lost(err: Error): void {
    this.metrics.connected = false;
    this.#lastOk = false;
    if (this.#stopping) return;
    this.#log('warn', 'tor', `lost the control connection: ${err.message}; reconnecting`);
    this.#reconnecting ??= this.#reconnectLoop().finally(() => (this.#reconnecting = undefined));
  }

  async #reconnectLoop(): Promise<void> {
    let delay = this.#reconnect.initialMs;
    for (;;) {
      if (this.#stopping) return;
      // Jitter: many watchers restarting together must not hammer one tor in lockstep.
      await sleep(delay * (0.5 + Math.random() / 2), undefined, { signal: this.#abort.signal }).catch(() => {});
      if (this.#stopping) return;
      try {
        await this.#connect();
        if (!this.#target?.client.connection.isClosed) {
          this.metrics.reconnects++;
          this.request('reconnect', true);
          return;
        }
        // Lost again while connecting: #lost() found this loop still running and left the retry to it.
        this.#log('warn', 'tor', `the control connection closed again while connecting; retrying in ${Math.round(delay / 1000)}s`);
      } catch (err) {
        this.#log('warn', 'tor', `reconnect failed: ${(err as Error).message}; retrying in ${Math.round(delay / 1000)}s`);
      }
      delay = Math.min(delay * 2, this.#reconnect.maxMs);
    }
  }

  #log(level: WatchLogEntry['level'], event: string, message: string, fields: Record<string, unknown> = {}): void {
    this.#o.log({ level, event, message, ...fields });
  }
}

/** Declared services tor is running now: ephemeral ones among its detached onions, filesystem ones in its block. */
function servicesUp(desired: DesiredState, live: LiveState): number {
  const detached = new Set(live.detachedOnions);
  const dirs = new Set(live.services.map((g) => normalizeDirectory(g.directory)));
  return desired.onionServices.filter((s) => {
    if (s.type === 'filesystem') return dirs.has(normalizeDirectory(s.directory));
    const address = live.ephemeralKeys.get(s.name)?.address;
    return address !== undefined && detached.has(address);
  }).length;
}

function summarize(changes: Change[]): Array<{ kind: string; id: string; action: string; reason: string }> {
  return changes.map((c) => ({ kind: c.kind, id: c.id, action: c.action, reason: c.reason }));
}

function describe(changes: Change[]): string {
  return changes.map((c) => `${c.action} ${c.kind} ${c.id}`).join(', ');
}
