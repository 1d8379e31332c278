/**
 * The long-running reconciler: keeps tor equal to the spec when the spec changes (SpecFollower), when
 * something else changes tor (CONF_CHANGED), when tor restarts or the connection drops (ConnectionSupervisor:
 * reconnect, then a full reconcile), when a declared ephemeral service disappears (OnionPoll: tor sends no event
 * for another controller's DEL_ONION) or a declared client credential (client-auth.ts: tor forgets those at
 * any SETCONF, even one that sends no event), and every `resyncMs` anyway.
 *
 * One reconcile runs at a time; triggers that arrive meanwhile coalesce into the next one (TriggerQueue). Our
 * own writes come back as CONF_CHANGED: an event whose values already equal the spec is not drift (isEcho),
 * and anything else costs one read that finds nothing to do — never a write. Another controller that keeps
 * undoing us is a conflict: the key is reported and its reverts back off exponentially (ConflictTracker).
 * OnionHealth follows the declared services' descriptor uploads, introduction points and self-checks.
 *
 * Over ~400 lines because it is the one place these parts are wired together; each part is its own module.
 */
import { formatDiagnostic, SpecErrors } from '../../spec/index.js';
import type { DesiredState } from '../../spec/model.js';
import type { TorClient } from '../../tor/client.js';
import type { OptionTable } from '../../tor/config/types.js';
import type { ConfChangedEvent } from '../../tor/events.js';
import type { AttachEngine } from '../attach/engine.js';
import { changeId, resolveDesired } from '../desired.js';
import { normalizeDirectory } from '../hsblock.js';
import { loadKeyFile } from '../local.js';
import type { PlanContext } from '../plan.js';
import { reconcileOnce } from '../reconcile.js';
import type { Target } from '../target.js';
import type { ApplyResult, Change, LiveState, Plan } from '../types.js';
import { AttachRunner } from './attach-runner.js';
import { countsAsRevert, forgettableCredentials, mayHaveDroppedCredentials } from './client-auth.js';
import { ConflictTracker } from './conflicts.js';
import { ConnectionSupervisor } from './connection.js';
import { isEcho } from './echo.js';
import { OnionHealth, type OnionHealthReport } from './onion-health.js';
import { OnionPoll } from './onion-poll.js';
import { SpecFollower } from './spec-follower.js';
import { TriggerQueue } from './trigger-queue.js';
import type { Trigger, WatchHealth, WatchLogEntry, WatchMetrics, WatchOptions } from './types.js';

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
    specValid: true,
  };
  readonly #o: WatchOptions & { mode: 'enforce' | 'warn'; debounceMs: number; resyncMs: number; onionPollMs: number };
  readonly #spec: SpecFollower;
  readonly #queue: TriggerQueue;
  readonly #conflicts: ConflictTracker;
  readonly #conn: ConnectionSupervisor;
  readonly #poll: OnionPoll;
  /** The declared credentials tor keeps in no file: a SETCONF that changes no value drops them without an event. */
  readonly #credentials: OnionPoll;
  readonly #health: OnionHealth;
  /** The declared ephemeral services' addresses, by change id, as of the last reconcile: what the poll expects. */
  #onions = new Map<string, string>();
  /** The first error of the spec on disk while it does not load (the last good spec stays in force). */
  #specError: string | undefined;
  readonly #attach = new AttachRunner((level, event, message, fields) => this.#log(level, event, message, fields));
  #desired!: DesiredState;
  #table: OptionTable | undefined;
  #ctx: PlanContext | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #abort = new AbortController();
  #lastOk = false;
  /**
   * Spec reloads and attach-engine starts and stops, one at a time: two at once could start two engines, and
   * stop() waits for the one in progress so that none starts after it.
   */
  #serial: Promise<void> = Promise.resolve();

  constructor(options: WatchOptions) {
    this.#o = { mode: 'enforce', debounceMs: 100, resyncMs: 300_000, onionPollMs: 2_000, ...options };
    this.#queue = new TriggerQueue(this.#o.debounceMs, (trigger) => this.#reconcile(trigger));
    this.#conflicts = new ConflictTracker(options.conflict);
    this.#spec = new SpecFollower({
      files: options.specFiles,
      quietMs: Math.max(this.#o.debounceMs, 50),
      load: () => this.#o.load(this.#table),
      serialize: (task) => this.#exclusive(task),
      changed: (next) => this.#specChanged(next),
      invalid: (err) => {
        this.metrics.specReloads.error++;
        this.metrics.errors++;
        this.metrics.specValid = false;
        this.#specError = firstError(err);
        this.#log('error', 'spec', `the new spec is invalid; the last good spec stays in force:\n${err.message}`, { files: options.specFiles });
      },
      restored: () => {
        this.#specValid();
        this.#log('info', 'spec', 'the spec on disk is the one in force again', { files: options.specFiles });
      },
      watchError: (err) => this.#log('warn', 'spec-watch', `watching the spec directory: ${err.message}`),
    });
    this.#poll = new OnionPoll({
      intervalMs: this.#o.onionPollMs,
      expected: () => {
        const held = this.#conflicts.heldBack(Date.now());
        return new Set([...this.#onions].filter(([id]) => !held.has(id)).map(([, address]) => address));
      },
      read: (client) => client.getInfo('onions/detached'),
      // A reconcile running or due reads the detached services anyway.
      client: () => (this.#queue.busy || this.#stopping ? undefined : this.#conn.target?.client),
      missing: (addresses) => {
        this.#log('info', 'onion-poll', `tor no longer runs ${addresses.map((a) => `${a}.onion`).join(', ')}: reconciling`, { addresses });
        this.request('drift', true);
      },
      failed: (err) => this.#log('warn', 'onion-poll', `GETINFO onions/detached: ${err.message}`),
    });
    this.#credentials = new OnionPoll({
      intervalMs: this.#o.onionPollMs,
      expected: () => forgettableCredentials(this.#desired, this.#conflicts.heldBack(Date.now())),
      read: async (client) => (await client.onionClientAuthView()).map((e) => e.address).join('\n'),
      client: () => (this.#queue.busy || this.#stopping ? undefined : this.#conn.target?.client),
      missing: (addresses) => {
        this.#log('info', 'client-auth-poll', `tor no longer holds the client credentials for ${addresses.map((a) => `${a}.onion`).join(', ')}: reconciling`, { addresses });
        this.request('drift', true);
      },
      failed: (err) => this.#log('warn', 'client-auth-poll', `ONION_CLIENT_AUTH_VIEW: ${err.message}`),
    });
    this.#health = new OnionHealth(options.health ?? {}, {
      desired: () => this.#desired,
      client: () => (this.#stopping ? undefined : this.#conn.target?.client),
      target: () => this.#conn.target?.address,
      log: (level, event, message, fields) => this.#log(level, event, message, fields),
    });
    this.#conn = new ConnectionSupervisor({
      ...(options.control ? { control: options.control } : {}),
      ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
      reconnect: { initialMs: 250, maxMs: 30_000, ...options.reconnect },
      desired: () => this.#desired,
      prepare: (target) => this.#prepare(target),
      connected: (target) => this.#connected(target),
      reconnected: () => {
        this.metrics.reconnects++;
        this.request('reconnect', true);
      },
      lost: () => {
        this.metrics.connected = false;
        this.#lastOk = false;
      },
      log: (level, event, message, fields) => this.#log(level, event, message, fields),
    });
  }

  get client(): TorClient | undefined {
    return this.#conn.target?.client;
  }

  get desired(): DesiredState {
    return this.#desired;
  }

  /** The live attach-policy engine, while the spec has policies tor cannot enforce by itself. */
  get attachEngine(): AttachEngine | undefined {
    return this.#attach.engine;
  }

  /**
   * Healthy: connected to tor and the last reconcile succeeded. An invalid spec on disk does not make watch
   * unhealthy (the last good spec is still enforced, and a restart would not even start): it is reported
   * beside, with its first error.
   */
  health(): WatchHealth {
    return {
      ok: this.metrics.connected && this.#lastOk,
      connected: this.metrics.connected,
      lastReconcileOk: this.#lastOk,
      lastSuccess: this.metrics.lastSuccess,
      specValid: this.metrics.specValid,
      ...(this.#specError !== undefined ? { specError: this.#specError, specInForce: 'the last good spec' as const } : {}),
    };
  }

  /** Per declared onion service: descriptor uploads, introduction points, the last self-check. */
  onionHealth(): OnionHealthReport {
    return this.#health.report();
  }

  /**
   * Load the spec (an invalid spec at start is an error: there is no last good one), connect, reconcile once,
   * and start watching. Resolves when the first reconcile is done.
   */
  async start(): Promise<void> {
    await this.#spec.remember();
    this.#desired = await this.#o.load(undefined);
    await this.#conn.start();
    await this.#spec.watch();
    this.#armResync();
    this.#poll.start();
    this.#credentials.start();
    this.#health.start();
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
    const halted = this.#conn.halt();
    const running = this.#queue.stop();
    const polling = this.#poll.stop();
    const credentials = this.#credentials.stop();
    const health = this.#health.stop();
    clearTimeout(this.#resyncTimer);
    await this.#spec.close();
    await running;
    await polling;
    await credentials;
    await health;
    await halted;
    await this.#serial;
    await this.#attach.stop();
    await this.#conn.close();
    this.metrics.connected = false;
  }

  /** Resolves when no reconcile is running or scheduled. */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /** Ask for a reconcile; `now` skips the debounce. */
  request(trigger: Trigger, now = false): void {
    this.#queue.request(trigger, now);
  }

  async #reconcile(trigger: Trigger): Promise<void> {
    const target = this.#conn.target;
    if (!target || this.#stopping) return;
    const started = Date.now();
    const drift = trigger === 'drift' || trigger === 'resync';
    let changes: Change[] = [];
    try {
      const { plan, result } = await this.#reconcileOnce(target.client, this.#desired, (plan, live) => {
        this.metrics.onionServicesUp = servicesUp(this.#desired, live);
        this.#onions = declaredOnions(this.#desired, live);
        changes = plan.changes.filter((c) => c.action !== 'noop' && !c.needsRestart);
        if (plan.errors.length || !plan.steps.length) return false;
        if (drift) this.metrics.driftsDetected++;
        if (this.#o.mode === 'warn') return false;
        if (drift) this.#noteReverts(changes);
        return true;
      });
      if (plan.errors.length) {
        this.#fail(trigger, started, `the plan is blocked: ${plan.errors.map((e) => e.message).join(' | ')}`);
      } else if (!plan.steps.length) {
        this.#succeed();
        // Never "matches" while a difference no step can carry out remains: an option tor only takes at
        // start-up, or a persisted drop-in tor's torrc does not read.
        const pending = plan.changes.filter((c) => c.action !== 'noop');
        if (pending.length) this.#log('warn', 'reconcile', `tor matches the spec except what needs a tor restart or the operator: ${describe(pending)}`, { trigger, changes: summarize(pending) });
        else if (!drift) this.#log('info', 'reconcile', 'tor matches the spec', { trigger, changes: [], durationMs: Date.now() - started });
      } else if (!result) {
        this.#lastOk = false;
        this.#log('warn', 'drift', `tor differs from the spec (warn mode: not reverted): ${describe(changes)}`, { trigger, changes: summarize(changes) });
      } else if (!result.ok) {
        const failed = result.results.find((r) => r.status === 'failed');
        this.#fail(trigger, started, failed ? `${failed.step.display}: ${failed.error}${failed.torWarnings?.length ? ` (tor: ${failed.torWarnings.join('; ')})` : ''}` : (result.error ?? 'interrupted'), summarize(changes));
      } else {
        if (drift) this.metrics.driftsReverted++;
        await this.#learnNewKeys(plan);
        this.#poll.rearm();
        this.#credentials.rearm();
        this.#succeed();
        this.#log('info', 'reconcile', `${trigger === 'drift' ? 'reverted drift' : 'applied'}: ${describe(changes)}`, { trigger, changes: summarize(changes), commands: plan.summary.commands, durationMs: Date.now() - started });
      }
    } catch (err) {
      // A dropped connection is handled by the reconnect loop; anything else is this reconcile's failure.
      if (this.#conn.target?.client.connection.isClosed) return;
      this.#fail(trigger, started, (err as Error).message);
    }
  }

  /** The shared pipeline, with the items whose reverts are backing off left as they are, and no verify pass. */
  #reconcileOnce(client: TorClient, desired: DesiredState, proceed: (plan: Plan, live: LiveState) => boolean): Promise<{ plan: Plan; result?: ApplyResult }> {
    const ctx = { ...this.#ctx!, leaveAlone: this.#conflicts.heldBack(Date.now()) };
    return reconcileOnce(client, resolveDesired(desired), ctx, { signal: this.#abort.signal, verify: false, proceed: (plan: Plan, live: LiveState | undefined) => proceed(plan, live!) });
  }

  /** Keys generated by this apply: their services are running now, and the poll must miss them if they go. */
  async #learnNewKeys(plan: Plan): Promise<void> {
    for (const s of plan.steps) {
      if (s.op !== 'generate-key') continue;
      // Unreadable now: the next reconcile reads it again, and the poll waits for that.
      const key = await loadKeyFile(s.path).catch(() => undefined);
      if (key) this.#onions.set(changeId('ephemeral-service', s.service), key.address);
    }
  }

  #specValid(): void {
    this.metrics.specValid = true;
    this.#specError = undefined;
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

  /** Counts reverts per item; an item that turns out to be in conflict is reported, and revisited after its backoff. */
  #noteReverts(changes: Change[]): void {
    const windowS = Math.round(this.#conflicts.policy.windowMs / 1000);
    for (const c of this.#conflicts.noteReverts(changes.filter(countsAsRevert).map((ch) => changeId(ch.kind, ch.id)), Date.now())) {
      this.metrics.conflicts++;
      this.#log('warn', 'conflict', `${c.id}: another controller keeps changing it (${c.reverts} reverts in ${windowS}s); next revert in ${c.backoffMs / 1000}s`, { key: c.id, reverts: c.reverts, backoffMs: c.backoffMs });
      setTimeout(() => this.request('drift'), c.backoffMs).unref();
    }
  }

  /** Runs `task` after every reload and engine change before it (whatever their outcome). */
  #exclusive(task: () => Promise<void>): Promise<void> {
    const run = this.#serial.then(task);
    this.#serial = run.catch(() => {});
    return run;
  }

  async #specChanged(next: DesiredState): Promise<void> {
    this.#desired = next;
    this.#conflicts.clear();
    this.#onions.clear();
    this.#specValid();
    this.metrics.specReloads.ok++;
    this.#log('info', 'spec', 'spec changed: reconciling', { files: this.#o.specFiles });
    this.request('spec', true);
    await this.#syncAttach();
  }

  #armResync(): void {
    clearTimeout(this.#resyncTimer);
    this.#resyncTimer = setTimeout(() => {
      void this.#spec.check();
      this.request('resync');
      this.#armResync();
    }, this.#o.resyncMs);
    this.#resyncTimer.unref();
  }

  /** A new connection: the spec reloaded with this tor's option table, and CONF_CHANGED followed. */
  async #prepare(target: Target): Promise<void> {
    const table = await this.#o.table(target.client);
    if (table !== this.#table) {
      await this.#exclusive(async () => {
        this.#desired = await this.#o.load(table);
        this.#table = table;
      });
    }
    // WARN stays subscribed so each apply's own subscription does not cost two SETEVENTS.
    await target.client.on('WARN', () => {});
    await target.client.on('CONF_CHANGED', (e) => this.#onConfChanged(e));
    await target.client.on('HS_DESC', (e) => this.#health.onHsDesc(e));
  }

  async #connected(target: Target): Promise<void> {
    this.#ctx = { table: this.#table!, target: target.address, ...(process.getuid ? { uid: process.getuid() } : {}) };
    this.metrics.connected = true;
    this.#log('info', 'tor', `connected to ${target.address} (tor ${target.client.version})`);
    // The engine of a lost connection: stopped for its listeners and timers (tor forgot it already).
    await this.#exclusive(async () => {
      await this.#attach.stop();
      await this.#attach.sync(this.#desired, this.#conn.target?.client, () => this.#stopping);
    }).catch((err: Error) => this.#log('error', 'attach', `cannot enforce attach policies: ${err.message}`));
  }

  /** Within #exclusive only. Attach policies failing to start must not cost the rest of reconciliation. */
  #syncAttach(): Promise<void> {
    return this.#attach
      .sync(this.#desired, this.#conn.target?.client, () => this.#stopping)
      .catch((err: Error) => this.#log('error', 'attach', `cannot enforce attach policies: ${err.message}`));
  }

  #onConfChanged(event: ConfChangedEvent): void {
    if (this.#stopping) return;
    if (isEcho(event, resolveDesired(this.#desired), this.#table) && !mayHaveDroppedCredentials(event, this.#desired)) return;
    this.request('drift');
  }

  #log(level: WatchLogEntry['level'], event: string, message: string, fields: Record<string, unknown> = {}): void {
    this.#o.log({ level, event, message, ...fields });
  }
}

/** The addresses the declared ephemeral services have, by change id, where their keys are known. */
function declaredOnions(desired: DesiredState, live: LiveState): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of desired.onionServices) {
    const address = s.type === 'ephemeral' ? live.ephemeralKeys.get(s.name)?.address : undefined;
    if (address) out.set(changeId('ephemeral-service', s.name), address);
  }
  return out;
}

/** The first line of a spec loader's error: the first error, at file:line:col when the spec has positions. */
function firstError(err: Error): string {
  const cause = err.cause instanceof SpecErrors ? err.cause : err instanceof SpecErrors ? err : undefined;
  if (cause?.errors[0]) return formatDiagnostic(cause.errors[0]).split('\n')[0]!;
  return err.message.split('\n')[0]!;
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
