/**
 * `watch` keeps a managed Onionbalance running (issue #17, `onionbalance: { manage: true }`): every check it
 * starts the process when it is not running (after an exit: again with exponential backoff while it keeps
 * failing), reloads it (SIGHUP) when config.yaml or the frontend key on disk is not what it loaded, and
 * restarts it when the spec's command line changed. Each check re-reads the spec, so a spec change counts.
 *
 * Like the rest of watch, it never generates a frontend key and never writes config.yaml: `apply` does
 * (watch does not know a new backend's address before its tor has it; apply reads it back). When watch stops,
 * Onionbalance keeps running: it is detached, and the next apply or watch finds it by its pid record.
 */
import { readFile } from 'node:fs/promises';
import type { BalancedService, DesiredState } from '../spec/model.js';
import type { WatchLogEntry } from '../reconcile/watch.js';
import { frontendFiles, listedInstances, loadFrontends } from './balanced.js';
import { obDigest, planOb, readObState, runOb } from './onionbalance.js';

export interface SupervisorOptions {
  /** The fleet spec as it is now (throws when it does not load: the check is skipped). */
  load: () => Promise<DesiredState>;
  log: (entry: WatchLogEntry) => void;
  /** Between checks (ms). */
  intervalMs?: number;
  /** First delay after a failed start or reload; doubled per failure in a row up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/** What `/healthz` and `/metrics` show of one supervised Onionbalance. */
export interface SupervisorState {
  service: string;
  running: boolean;
  pid?: number;
  starts: number;
  reloads: number;
  failures: number;
  lastError?: string;
}

const INTERVAL_MS = 2_000;
const BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 60_000;

export class OnionbalanceSupervisor {
  readonly state: SupervisorState;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private failuresInRow = 0;
  private notBefore = 0;

  constructor(
    readonly service: string,
    private readonly options: SupervisorOptions,
  ) {
    this.state = { service, running: false, starts: 0, reloads: 0, failures: 0 };
  }

  /** The first check now; later ones every intervalMs (one at a time). */
  async start(): Promise<void> {
    await this.check();
  }

  /** Stops checking; Onionbalance itself is left running. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One check; then the next is scheduled. */
  async check(): Promise<void> {
    clearTimeout(this.timer);
    this.running = this.once().finally(() => {
      if (!this.stopped) this.timer = setTimeout(() => void this.check(), this.options.intervalMs ?? INTERVAL_MS);
    });
    await this.running;
  }

  private async once(): Promise<void> {
    let service: BalancedService | undefined;
    let fleet: DesiredState;
    try {
      fleet = await this.options.load();
      service = fleet.balanced?.find((b) => b.name === this.service);
    } catch {
      return; // The watchers report the spec's errors; the last process stays as it is.
    }
    const m = service?.onionbalance;
    if (!service || !m) return;
    const { configFile } = frontendFiles(service);
    const stateNow = await readObState(service.frontendDirectory);
    this.state.running = stateNow.running !== undefined;
    if (stateNow.running) this.state.pid = stateNow.running.pid;
    else delete this.state.pid;
    // After a failure, nothing is tried (or logged again) before the backoff has passed.
    if (Date.now() < this.notBefore) return;
    const front = (await loadFrontends({ ...fleet, balanced: [service] }))[0]!;
    const config = await readFile(configFile, 'utf8').catch(() => null);
    if (front.newKey || front.error || config === null) {
      this.fail(`not started: ${front.error ?? (front.newKey ? 'the frontend key does not exist yet' : `${configFile} does not exist yet`)}; run apply`);
      return;
    }
    const digest = obDigest(config, front.address!);
    const plan = planOb(m, service.frontendDirectory, configFile, stateNow, digest);
    if (!plan.action) return;
    try {
      const { record, done } = (await runOb(plan, digest, listedInstances(config).size))!;
      this.state.running = true;
      this.state.pid = record.pid;
      this.failuresInRow = 0;
      delete this.state.lastError;
      // done null: an apply did it meanwhile (under the same lock); nothing of this watch's to count.
      if (!done) return;
      if (done === 'reload') this.state.reloads++;
      else this.state.starts++;
      this.options.log({ level: 'info', event: `onionbalance-${done}`, message: `onionbalance ${done === 'reload' ? 'reloaded' : done === 'restart' ? 'restarted' : 'started'} (pid ${record.pid}): it was ${plan.reason}`, pid: record.pid });
    } catch (err) {
      this.fail((err as Error).message);
    }
  }

  private fail(message: string): void {
    this.state.failures++;
    this.state.lastError = message;
    const delay = Math.min((this.options.backoffMs ?? BACKOFF_MS) * 2 ** this.failuresInRow, this.options.maxBackoffMs ?? MAX_BACKOFF_MS);
    this.failuresInRow++;
    this.notBefore = Date.now() + delay;
    this.options.log({ level: 'error', event: 'onionbalance-failed', message: `${message} (next try in ${Math.round(delay / 1000)} s or later)` });
  }
}
