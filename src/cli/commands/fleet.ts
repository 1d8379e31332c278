/**
 * plan, apply, diff and status for a spec with `targets:` (issue #17). Each command loads the spec once
 * (loadForCommand); a spec of one tor goes on to the command's own path with that load, a fleet spec comes
 * here: one section per target, a failed target reported with its reason without stopping the others, and
 * one exit status for the whole fleet.
 */
import { randomBytes } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import http from 'node:http';
import { createTwoFilesPatch } from 'diff';
import { FleetWatcher } from '../../fleet/watch.js';
import { tableFor } from '../../reconcile/reconcile.js';
import type { WatchLogEntry } from '../../reconcile/watch.js';
import { SpecErrors } from '../../spec/index.js';
import { selectTargets } from '../../fleet/desired.js';
import { frontendChanged } from '../../fleet/balanced.js';
import { applyFleet, DEFAULT_PARALLELISM, fleetStatus, frontendFailed, planFleet, targetFailed, type FleetRun } from '../../fleet/run.js';
import { isEmptyPlan } from '../../reconcile/plan.js';
import { loadSpec, type LoadResult } from '../../spec/index.js';
import type { Target } from '../../reconcile/target.js';
import type { FleetTarget } from '../../spec/model.js';
import { askYes, shouldConfirm } from '../confirm.js';
import { EXIT_INVALID, formatReport, type CliIo } from '../program.js';
import { CliUsageError } from '../report.js';
import { failureReason, fleetAnnotations, renderFleetHuman, renderFleetMetrics, renderOnionbalanceMetrics, renderFleetJson, renderFleetMarkdown, renderFleetStatus, renderFrontends } from '../views/fleet.js';
import { restartWarnings, type PlanFormat } from '../views/plan.js';
import { useColor } from '../views/style.js';
import { managedText } from './diff.js';
import { interruptible, nudged } from './session.js';
import { json, listenHttp, runUntilSignal } from './watch-runtime.js';

interface FleetFlags {
  target?: string[];
  control?: string;
  timeout?: number;
}

function selected(loaded: LoadResult, flags: FleetFlags): FleetTarget[] {
  if (flags.control) throw new CliUsageError('--control names one tor; a spec with targets: names its own (limit them with --target)');
  const { selected: targets, unknown } = selectTargets(loaded.state, flags.target ?? []);
  if (unknown.length) throw new CliUsageError(`no target called ${unknown.join(', ')} in the spec (targets: ${loaded.state.targets!.map((t) => t.name).join(', ')})`);
  return targets;
}

/** Load warnings on stderr, then every selected target planned, traced per target with TOR_RECONCILE_TRACE. */
async function open(loaded: LoadResult, io: CliIo, flags: FleetFlags): Promise<FleetRun> {
  const targets = selected(loaded, flags);
  io.stderr(formatReport(loaded.warnings));
  const traced: Array<() => void> = [];
  const trace = (name: string, target: Target) => {
    const conn = target.client.connection;
    const base = conn.stats;
    conn.onCommand((c) => io.stderr(`> [${name}] ${c.display}\n`));
    traced.push(() => io.stderr(`> [${name}] ${conn.stats.commands - base.commands} commands in ${conn.stats.roundTrips - base.roundTrips} round trips after authentication${nudged(conn.stats.nudges - base.nudges)}\n`));
  };
  const run = await planFleet(loaded.state, targets, {
    salt: randomBytes(16).toString('hex'),
    ...(flags.timeout ? { timeout: flags.timeout } : {}),
    ...(io.env.TOR_RECONCILE_TRACE ? { onConnected: trace } : {}),
  });
  const close = run.close;
  return Object.assign(run, { close: async () => (traced.forEach((f) => f()), await close()) });
}

const anyFailed = (run: FleetRun) => run.targets.some(targetFailed) || run.frontends.some(frontendFailed);
const anyChanges = (run: FleetRun) => run.targets.some((t) => t.plan && !isEmptyPlan(t.plan)) || run.frontends.some((f) => frontendChanged(f.plan));

/** Exit status: 1 when any target failed; else, with --detailed-exitcode, 2 when any target has changes. */
export async function fleetPlan(loaded: LoadResult, io: CliIo, flags: FleetFlags & { format: PlanFormat; out?: string; detailedExitcode?: boolean }): Promise<number> {
  if (flags.out) throw new CliUsageError('--out saves the plan of one tor; with targets: run apply on the spec');
  const run = await open(loaded, io, flags);
  try {
    if (flags.format === 'json') io.stdout(renderFleetJson(run.targets, run.frontends));
    else if (flags.format === 'markdown') io.stdout(renderFleetMarkdown(run.targets, run.frontends));
    else {
      if (flags.format === 'github') {
        for (const a of fleetAnnotations(run.targets)) io.stdout(`${a}\n`);
        if (io.env.GITHUB_STEP_SUMMARY) await appendFile(io.env.GITHUB_STEP_SUMMARY, renderFleetMarkdown(run.targets, run.frontends));
      }
      io.stdout(renderFleetHuman(run.targets, flags.format === 'human' && useColor(process.stdout, io.env)) + renderFrontends(run.frontends));
    }
  } finally {
    await run.close();
  }
  if (anyFailed(run)) return EXIT_INVALID;
  return flags.detailedExitcode && anyChanges(run) ? 2 : 0;
}

/** Exit status: 1 when any target failed (the others are applied all the same), 3 when a restart is pending. */
export async function fleetApply(loaded: LoadResult, io: CliIo, flags: FleetFlags & { json?: boolean; autoApprove?: boolean; parallelism?: string; allowPendingRestart?: boolean }): Promise<number> {
  const parallelism = flags.parallelism === undefined ? DEFAULT_PARALLELISM : Number(flags.parallelism);
  if (!Number.isInteger(parallelism) || parallelism < 1) throw new CliUsageError(`--parallelism ${flags.parallelism}: give a whole number of at least 1`);
  const run = await open(loaded, io, flags);
  const stop = interruptible();
  try {
    const color = useColor(process.stdout, io.env);
    if (!flags.json) io.stdout(renderFleetHuman(run.targets, color) + renderFrontends(run.frontends));
    const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
    if (anyChanges(run) && shouldConfirm({ interactive, autoApprove: Boolean(flags.autoApprove), savedPlan: false, json: Boolean(flags.json) }) && !(await askYes(process.stdin, process.stdout))) {
      io.stderr('apply cancelled: nothing was changed\n');
      return EXIT_INVALID;
    }
    await applyFleet(run, {
      parallelism,
      signal: stop.signal,
      ...(flags.json ? {} : { onStep: (name, r, i, total) => io.stderr(`[${name} ${i + 1}/${total}] ${r.status}: ${r.step.display}\n`) }),
    });
    if (flags.json) io.stdout(renderFleetJson(run.targets, run.frontends));
    else io.stdout(`\n${renderFleetHuman(run.targets, color, true)}${renderFrontends(run.frontends, true)}`);
  } finally {
    stop.dispose();
    await run.close();
  }
  if (stop.exitCode() !== undefined) return stop.exitCode()!;
  if (anyFailed(run)) return EXIT_INVALID;
  const pending = run.targets.filter((t) => t.plan?.restart === 'pending' && t.result);
  if (pending.length && !flags.allowPendingRestart) {
    io.stderr(`tor-reconcile: applied; a tor restart is pending on ${pending.map((t) => t.target.name).join(', ')}\n`);
    return 3;
  }
  return 0;
}

/** GNU diff's status across the fleet: 2 when any target failed, else 1 when any differs, else 0. */
export async function fleetDiff(loaded: LoadResult, io: CliIo, specs: readonly string[], flags: FleetFlags): Promise<number> {
  const run = await open(loaded, io, flags);
  await run.close();
  let differs = false;
  for (const t of run.targets) {
    if (!t.plan) continue;
    const before = managedText(t.plan, 'before');
    const after = managedText(t.plan, 'after');
    if (before === after) {
      for (const w of restartWarnings(t.plan)) io.stderr(`warning: [${t.target.name}] ${w}\n`);
      continue;
    }
    differs = true;
    io.stdout(createTwoFilesPatch(`live (${t.target.name}: ${t.address})`, `spec (${specs.join(', ')}) [${t.target.name}]`, before, after, '', '', { context: 3 }));
  }
  // Onionbalance's config.yaml is configuration the spec declares too: on disk against what apply would write.
  for (const f of run.frontends) {
    if (frontendFailed(f) || f.plan.before === f.plan.after) continue;
    differs = true;
    io.stdout(createTwoFilesPatch(`${f.plan.configFile} (on disk)`, `spec (${specs.join(', ')}) [${f.plan.name}]`, f.plan.before ?? '', f.plan.after, '', '', { context: 3 }));
  }
  const failed = run.targets.filter((t) => t.error !== undefined);
  const failedFrontends = run.frontends.filter(frontendFailed);
  if (failed.length) io.stderr(renderFleetHuman(failed, false));
  if (failedFrontends.length) io.stderr(renderFrontends(failedFrontends));
  return failed.length || failedFrontends.length ? 2 : differs ? 1 : 0;
}

/** Exit status 1 when a target could not be read. */
export async function fleetStatusCommand(loaded: LoadResult, io: CliIo, flags: FleetFlags & { json?: boolean }): Promise<number> {
  const targets = selected(loaded, flags);
  const report = await fleetStatus(loaded.state, targets, flags.timeout ? { timeout: flags.timeout } : {});
  if (flags.json) {
    const body = report.targets.map(({ error, ...t }) => ({ ...t, ...(error !== undefined ? { error: failureReason(error) } : {}) }));
    io.stdout(JSON.stringify({ format_version: 1, targets: body, ...(report.frontends.length ? { frontends: report.frontends } : {}) }, null, 2) + '\n');
  } else io.stdout(renderFleetStatus(report.targets, report.frontends));
  return report.targets.some((t) => t.error !== undefined) ? EXIT_INVALID : 0;
}

interface FleetWatchFlags {
  mode: string;
  debounceMs: number;
  resyncMs: number;
  onionPollMs: number;
  timeoutMs: number;
  listen?: string;
  target?: string[];
  control?: string;
  allowPath?: string[];
}

/**
 * `watch` with targets: one watcher per target (src/fleet/watch.ts), until SIGTERM/SIGINT. `/healthz` is 200
 * when every target is healthy (each target's health in the body), `/metrics` labels every sample with its target.
 */
export async function fleetWatch(loaded: LoadResult, io: CliIo, specs: readonly string[], flags: FleetWatchFlags, log: (target: string, e: WatchLogEntry) => void): Promise<void> {
  const targets = selected(loaded, { ...(flags.target ? { target: flags.target } : {}), ...(flags.control ? { control: flags.control } : {}) });
  io.stderr(formatReport(loaded.warnings));
  // Each target's watcher loads the spec once as it starts (no table yet): that is the load already done.
  let firstLoads = targets.length;
  const watcher = new FleetWatcher(targets, {
    specFiles: [...specs],
    mode: flags.mode as 'enforce' | 'warn',
    debounceMs: flags.debounceMs,
    resyncMs: flags.resyncMs,
    onionPollMs: flags.onionPollMs,
    timeoutMs: flags.timeoutMs,
    table: tableFor,
    log,
    // As apply: a balanced service whose backends are not all selected is left out, its Onionbalance too.
    onionbalance: (loaded.state.balanced ?? []).filter((b) => b.onionbalance && b.backends.every((n) => targets.some((t) => t.name === n))).map((b) => b.name),
    load: async (table) => {
      if (!table && firstLoads > 0) {
        firstLoads--;
        return loaded.state;
      }
      try {
        return (await loadSpec(specs, { env: io.env, confine: { allow: flags.allowPath ?? [] }, ...(table ? { table } : {}) })).state;
      } catch (err) {
        if (err instanceof SpecErrors) throw new Error(formatReport(err.errors.concat(err.warnings)).trimEnd(), { cause: err });
        throw err;
      }
    },
  });
  const server = flags.listen ? await serveFleet(watcher, flags.listen) : undefined;
  await runUntilSignal(watcher, server, (sig) => log('*', { level: 'info', event: 'shutdown', message: `${sig}: finishing the steps in flight and leaving everything in place` }));
}

function serveFleet(watcher: FleetWatcher, listen: string): Promise<http.Server> {
  return listenHttp(listen, (url) => {
    if (url === '/healthz') {
      const h = watcher.health();
      return json(h.ok ? 200 : 503, h);
    }
    if (url === '/metrics') {
      const body = renderFleetMetrics(watcher.targets.map((t) => ({ name: t.name, metrics: t.watcher.metrics }))) + renderOnionbalanceMetrics(watcher.onionbalance.map((s) => s.state));
      return { status: 200, type: 'text/plain; version=0.0.4', body };
    }
    return undefined;
  });
}
