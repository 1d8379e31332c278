/**
 * Views of a fleet run (issue #17): one section per target in every format, a failed target with its
 * reason, and one summary line. They render the single-tor views per target; they decide nothing.
 */
import type { TargetRun, TargetStatus } from '../../fleet/run.js';
import { targetFailed } from '../../fleet/run.js';
import { isEmptyPlan } from '../../reconcile/plan.js';
import { describeError } from '../report.js';
import { githubAnnotations, renderApplyHuman, renderHuman, renderMarkdown } from './plan.js';
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
function outcome(t: TargetRun): 'failed' | 'applied' | 'with changes' | 'in sync' {
  if (targetFailed(t)) return 'failed';
  if (t.result) return 'applied';
  return t.plan && !isEmptyPlan(t.plan) ? 'with changes' : 'in sync';
}

/** `3 targets: 1 with changes, 1 in sync, 1 failed`. */
export function fleetSummary(runs: readonly TargetRun[]): string {
  const counts = (['applied', 'with changes', 'in sync', 'failed'] as const).map((o) => [o, runs.filter((t) => outcome(t) === o).length] as const).filter(([, n]) => n > 0);
  return `${runs.length} target${runs.length === 1 ? '' : 's'}: ${counts.map(([o, n]) => `${n} ${o}`).join(', ')}`;
}

/** Each target's plan; after apply (`applied`), each target's apply result instead. */
export function renderFleetHuman(runs: readonly TargetRun[], color: boolean, applied = false): string {
  const st = style(color);
  const out: string[] = [];
  for (const t of runs) {
    out.push(st.bold(heading(t, t.target.name, t.target.labels)), '');
    if (applied && t.result) out.push(renderApplyHuman(t.result, color));
    else if (applied && t.plan && !t.plan.errors.length && t.error === undefined) out.push('  Nothing to do.', '');
    else if (t.plan) out.push(renderHuman(t.plan, color));
    if (t.error !== undefined) out.push(st.red(`  FAILED: ${failureReason(t.error)}`), '');
  }
  out.push(st.bold(`Fleet: ${fleetSummary(runs)}.`));
  return out.join('\n') + '\n';
}

/** Versioned like a plan's JSON; a failed target has `error` (its reason) instead of or beside its plan. */
export function renderFleetJson(runs: readonly TargetRun[]): string {
  const targets = runs.map((t) => ({
    name: t.target.name,
    labels: t.target.labels,
    address: t.address,
    ok: !targetFailed(t),
    ...(t.plan ? { plan: t.plan } : {}),
    ...(t.result ? { result: t.result } : {}),
    ...(t.error !== undefined ? { error: failureReason(t.error) } : {}),
  }));
  return JSON.stringify({ format_version: 1, ok: runs.every((t) => !targetFailed(t)), summary: fleetSummary(runs), targets }, null, 2) + '\n';
}

export function renderFleetMarkdown(runs: readonly TargetRun[]): string {
  const out = [`## tor-reconcile fleet: ${fleetSummary(runs)}`, ''];
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

export function renderFleetStatus(targets: readonly TargetStatus[]): string {
  const out: string[] = [];
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
