/**
 * Views of a fleet run (issue #17): one section per target in every format, a failed target with its
 * reason, and one summary line. They render the single-tor views per target; they decide nothing.
 */
import path from 'node:path';
import { frontendChanged } from '../../fleet/balanced.js';
import type { FrontendRun, FrontendStatus, TargetRun, TargetStatus } from '../../fleet/run.js';
import { frontendFailed, targetFailed } from '../../fleet/run.js';
import { isEmptyPlan } from '../../reconcile/plan.js';
import { describeError } from '../report.js';
import type { WatchMetrics } from '../../reconcile/watch.js';
import { renderMetrics } from './metrics.js';
import type { SupervisorState } from '../../fleet/supervise.js';
import { githubAnnotations, renderApplyHuman, renderHuman, renderMarkdown, restartWarnings } from './plan.js';
import { style } from './style.js';

/** The one-line reason a target failed (tor's refusal, the unreachable address…), without a trailing newline. */
export function failureReason(err: unknown): string {
  return describeError(err).text.replace(/^tor-reconcile: /, '').trimEnd();
}

function heading(t: TargetRun | TargetStatus, name: string, labels: Record<string, string>): string {
  const l = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  return `=== target ${name} (${t.address})${l.length ? ` [${l.join(', ')}]` : ''} ===`;
}

/** What became of one target, as the summary counts it. */
const OUTCOMES = ['applied', 'with changes', 'in sync', 'in sync until tor restarts', 'in sync (after a restart: unknown)', 'failed'] as const;

function outcome(t: TargetRun): (typeof OUTCOMES)[number] {
  if (targetFailed(t)) return 'failed';
  if (t.result) return 'applied';
  if (t.plan && !isEmptyPlan(t.plan)) return 'with changes';
  if (t.plan?.lostOnRestart) return 'in sync until tor restarts';
  return t.plan?.restartUnknown !== undefined ? 'in sync (after a restart: unknown)' : 'in sync';
}

/** `3 targets: 1 with changes, 1 in sync, 1 failed`. */
export function fleetSummary(runs: readonly TargetRun[]): string {
  const counts = OUTCOMES.map((o) => [o, runs.filter((t) => outcome(t) === o).length] as const).filter(([, n]) => n > 0);
  return `${runs.length} target${runs.length === 1 ? '' : 's'}: ${counts.map(([o, n]) => `${n} ${o}`).join(', ')}`;
}

/** Each target's plan; after apply (`applied`), each target's apply result instead. */
export function renderFleetHuman(runs: readonly TargetRun[], color: boolean, applied = false): string {
  const st = style(color);
  const out: string[] = [];
  for (const t of runs) {
    out.push(st.bold(heading(t, t.target.name, t.target.labels)), '');
    if (applied && t.result) out.push(renderApplyHuman(t.result, color));
    else if (applied && t.plan && !t.plan.errors.length && t.error === undefined) out.push('  Nothing to do.', ...restartWarnings(t.plan).map((w) => `  ${st.yellow('warning:')} ${w}`), '');
    else if (t.plan) out.push(renderHuman(t.plan, color));
    if (t.error !== undefined) out.push(st.red(`  FAILED: ${failureReason(t.error)}`), '');
  }
  out.push(st.bold(`Fleet: ${fleetSummary(runs)}.`));
  return out.join('\n') + '\n';
}

function frontendJson(f: FrontendRun) {
  const { before: _before, ...plan } = f.plan;
  return { ...plan, changed: frontendChanged(f.plan), ok: !frontendFailed(f), ...(f.applied ? { applied: true } : {}), ...(frontendFailed(f) ? { error: f.front.error ?? failureReason(f.error) } : {}) };
}

const PAST = { start: 'started', reload: 'reloaded', restart: 'restarted' } as const;

/** Onionbalance's side of each balanced service: the frontend address, its backends, its files. */
export function renderFrontends(frontends: readonly FrontendRun[], applied = false): string {
  const out: string[] = [];
  for (const f of frontends) {
    const p = f.plan;
    out.push(`=== Onionbalance frontend ${p.name}: ${p.address ? `${p.address}.onion` : '(no key)'}${p.newKey ? ' (new key, kept on apply)' : ''} ===`, '');
    for (const b of p.backends) out.push(`  backend ${b.target}: ${b.address ? `${b.address}.onion` : '(assigned by its tor on apply)'}`);
    const ob = p.onionbalance;
    if (f.front.error !== undefined || f.error !== undefined) out.push(`  FAILED: ${f.front.error ?? failureReason(f.error)}`);
    else if (applied && f.applied) {
      if (!ob) out.push(`  ${p.configFile}: written; send Onionbalance SIGHUP to read it (Debian's unit: systemctl kill -s HUP onionbalance)`);
      else if (f.onionbalance?.done) out.push(`  onionbalance: ${PAST[f.onionbalance.done]} (pid ${f.onionbalance.record.pid}; log ${ob.logFile})`);
      else if (f.onionbalance) out.push(`  onionbalance: running (pid ${f.onionbalance.record.pid}) with this config.yaml: another tor-reconcile did it meanwhile`);
      else out.push(`  ${p.configFile}: in sync; onionbalance ${ob.reason}`);
    } else if (!frontendChanged(p)) out.push(`  ${p.configFile}: in sync${ob ? `; onionbalance ${ob.reason}` : ''}`);
    else {
      if (p.before !== p.after || p.writeKey || p.newKey || p.pending.length) {
        out.push(`  ${p.before === null ? '+' : '~'} ${p.configFile}${p.writeKey ? ` and ${p.keyFile} (0600)` : ''}`);
        for (const line of p.after.split('\n').filter(Boolean)) out.push(`      ${line}`);
        if (p.pending.length) out.push(`      # and the address of ${p.pending.join(', ')}, assigned by its tor on apply`);
      }
      // After the files, as apply runs it.
      // Every file the step touches is shown: the lock it holds, the log it appends to, the record it (re)writes.
      if (ob?.action)
        out.push(
          `  > ${ob.action} onionbalance: ${ob.reason}`,
          `      ${ob.action === 'reload' ? `kill -HUP ${ob.pid}` : `${ob.action === 'restart' ? `kill -TERM ${ob.pid}; ` : ''}${ob.argv.join(' ')} >>${ob.logFile} 2>&1 &`}`,
          `      holding ${path.join(path.dirname(ob.pidFile), '.lock')}; the process recorded in ${ob.pidFile} (0600)`,
        );
      else if (ob) out.push(`  onionbalance ${ob.reason}`);
    }
    out.push('');
  }
  return out.join('\n') + (out.length ? '\n' : '');
}

/** Versioned like a plan's JSON; a failed target has `error` (its reason) instead of or beside its plan. */
export function renderFleetJson(runs: readonly TargetRun[], frontends: readonly FrontendRun[] = []): string {
  const targets = runs.map((t) => ({
    name: t.target.name,
    labels: t.target.labels,
    address: t.address,
    ok: !targetFailed(t),
    ...(t.plan ? { plan: t.plan } : {}),
    ...(t.result ? { result: t.result } : {}),
    ...(t.error !== undefined ? { error: failureReason(t.error) } : {}),
  }));
  const ok = runs.every((t) => !targetFailed(t)) && frontends.every((f) => !frontendFailed(f));
  return JSON.stringify({ format_version: 1, ok, summary: fleetSummary(runs), targets, ...(frontends.length ? { frontends: frontends.map(frontendJson) } : {}) }, null, 2) + '\n';
}

export function renderFleetMarkdown(runs: readonly TargetRun[], frontends: readonly FrontendRun[] = []): string {
  const out = [`## tor-reconcile fleet: ${fleetSummary(runs)}`, ''];
  if (frontends.length) out.push('```', renderFrontends(frontends).trimEnd(), '```', '');
  for (const t of runs) {
    out.push(`## Target \`${t.target.name}\``, '');
    if (t.plan) out.push(renderMarkdown(t.plan));
    if (t.error !== undefined) out.push(`**Failed:** ${failureReason(t.error)}`, '');
  }
  return out.join('\n') + '\n';
}

/** Each target's annotations, titled with its name; an `::error` for a target that failed. */
export function fleetAnnotations(runs: readonly TargetRun[]): string[] {
  return runs.flatMap((t) => [
    ...(t.plan ? githubAnnotations(t.plan).map((a) => a.replace('title=tor-reconcile', `title=tor-reconcile [${t.target.name}]`)) : []),
    ...(t.error !== undefined ? [`::error title=tor-reconcile [${t.target.name}]::${failureReason(t.error).replace(/%/g, '%25').replace(/\n/g, '%0A')}`] : []),
  ]);
}

const DESCRIPTOR: Record<string, string> = { true: 'built', false: 'none yet', null: '-' };

export function renderFleetStatus(targets: readonly TargetStatus[], frontends: readonly FrontendStatus[] = []): string {
  const out: string[] = [];
  for (const f of frontends) {
    out.push(`=== Onionbalance frontend ${f.name}: ${f.address ? `${f.address}.onion` : '(no key yet: created on apply)'} ===`);
    for (const b of f.backends) out.push(`  backend ${b.target}: ${b.address ? `${b.address}.onion` : '(no address yet)'}; in tor now: ${b.running ? 'yes' : 'no'}; descriptor: ${DESCRIPTOR[String(b.descriptor)]}`);
    if (f.onionbalance) out.push(`  onionbalance: ${f.onionbalance.state}${f.onionbalance.inSync ? '' : ' (apply starts or reloads it)'}`);
    out.push('');
  }
  for (const t of targets) {
    out.push(heading(t, t.name, t.labels));
    if (t.error !== undefined) out.push(`  FAILED: ${failureReason(t.error)}`);
    else if (!t.services?.length) out.push('  (no onion service on this target)');
    for (const s of t.services ?? []) {
      out.push(`  ${s.name} (${s.type}): ${s.address ? `${s.address}.onion` : '(assigned by tor on apply)'}`);
      out.push(`      ports: ${s.ports.join(', ')}`);
      out.push(`      in tor now: ${s.running ? 'yes' : 'no'}; descriptor: ${DESCRIPTOR[String(s.descriptor)]}`);
    }
    out.push('');
  }
  return out.join('\n');
}

/** One exposition for every target's watcher: each sample labelled `target="NAME"`, each metric described once. */
export function renderFleetMetrics(targets: ReadonlyArray<{ name: string; metrics: WatchMetrics }>): string {
  const help: string[] = [];
  const samples = new Map<string, string[]>();
  for (const t of targets) {
    const label = `target="${t.name.replace(/["\\]/g, '\\$&')}"`;
    for (const line of renderMetrics(t.metrics).trimEnd().split('\n')) {
      if (line.startsWith('#')) {
        if (t === targets[0]) help.push(line);
        continue;
      }
      const m = /^(\w+)(?:\{(.*)\})? (.*)$/.exec(line)!;
      const name = m[1]!;
      if (!samples.has(name)) samples.set(name, []);
      samples.get(name)!.push(`${name}{${[label, m[2]].filter(Boolean).join(',')}} ${m[3]}`);
    }
  }
  const out: string[] = [];
  for (const line of help) {
    out.push(line);
    const m = /^# TYPE (\w+) /.exec(line);
    if (m) out.push(...(samples.get(m[1]!) ?? []));
  }
  return out.join('\n') + '\n';
}

/** The supervised Onionbalances of a fleet watch, labelled `service="NAME"` (none: nothing). */
export function renderOnionbalanceMetrics(states: readonly SupervisorState[]): string {
  if (!states.length) return '';
  const label = (s: SupervisorState) => `service="${s.service.replace(/["\\]/g, '\\$&')}"`;
  const metric = (name: string, type: string, help: string, value: (s: SupervisorState) => number) => [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} ${type}`,
    ...states.map((s) => `${name}{${label(s)}} ${value(s)}`),
  ];
  return [
    ...metric('tor_reconcile_onionbalance_up', 'gauge', 'Whether the Onionbalance tor-reconcile started for the service is running (1) or not (0).', (s) => (s.running ? 1 : 0)),
    ...metric('tor_reconcile_onionbalance_starts_total', 'counter', 'Onionbalance starts and restarts by this watch.', (s) => s.starts),
    ...metric('tor_reconcile_onionbalance_reloads_total', 'counter', 'Onionbalance reloads (SIGHUP) by this watch.', (s) => s.reloads),
    ...metric('tor_reconcile_onionbalance_failures_total', 'counter', 'Failed Onionbalance starts or reloads by this watch.', (s) => s.failures),
  ].join('\n') + '\n';
}
