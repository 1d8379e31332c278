/**
 * Views of a Plan: human (terminal), JSON (versioned, for scripts), markdown (a pull-request comment) and
 * github (markdown plus workflow annotations). They render; they decide nothing.
 */
import type { ApplyResult, Change, Plan, PlanProblem, ServiceAddress } from '../../reconcile/types.js';
import type { SpecDiagnostic } from '../../spec/index.js';
import { changeLines, diffLines } from './lines.js';
import { style, type Style } from './style.js';

export type PlanFormat = 'human' | 'json' | 'markdown' | 'github';

const SYMBOL: Record<Change['action'], string> = { create: '+', update: '~', delete: '-', replace: '-/+', noop: ' ' };

export function summaryLine(plan: Plan): string {
  const s = plan.summary;
  const parts = [`${s.create} to add`, `${s.update} to change`, `${s.delete} to remove`];
  if (s.replace) parts.push(`${s.replace} to replace`);
  let line = `${parts.join(', ')}; ${s.commands} command${s.commands === 1 ? '' : 's'}`;
  if (s.needsRestart) line += `; ${s.needsRestart} need${s.needsRestart === 1 ? 's' : ''} a tor restart`;
  return line;
}

function where(p: PlanProblem | Change): string {
  return p.source ? `${p.source.file}:${p.source.line}:${p.source.col}: ` : '';
}

/** How a restart-only change is marked: apply restarts the embedded tor itself, or leaves the restart pending. */
export function restartNote(plan: Plan): string {
  return plan.restart === 'apply' ? 'needs a tor restart: apply restarts the embedded tor' : 'needs a tor restart, not sent: apply exits 3 until tor is restarted';
}

const ADDRESS_PENDING = '(assigned by tor on apply)';

/** `name (type): address.onion` for each declared service. */
export function addressLines(addresses: readonly ServiceAddress[] | undefined): string[] {
  return (addresses ?? []).map((a) => `${a.name} (${a.type}): ${a.address ? `${a.address}.onion` : ADDRESS_PENDING}`);
}

function changeBlock(c: Change, st: Style, plan: Plan): string[] {
  const color = c.action === 'create' ? st.green : c.action === 'delete' ? st.red : st.yellow;
  const head = `${color(SYMBOL[c.action].padStart(3))} ${c.kind} ${st.bold(c.id)}${c.needsRestart ? st.yellow(` (${restartNote(plan)})`) : ''}  ${st.dim(c.reason)}`;
  const out = [head];
  for (const [mark, line] of diffLines(changeLines(c, 'before'), changeLines(c, 'after'))) {
    if (mark === ' ' && c.kind !== 'filesystem-service') continue;
    const paint = mark === '+' ? st.green : mark === '-' ? st.red : st.dim;
    out.push(`      ${paint(`${mark} ${line}`)}`);
  }
  return out;
}

/** What a plan of a not-running embedded tor must say: nothing was started, apply will start it. */
export function launchNote(launch: NonNullable<Plan['launch']>): string {
  return `tor will be launched by apply (${launch.binary}, data directory ${launch.dataDirectory}); it is not running, so this plan is against the configuration it would start with. Nothing was started.`;
}

/** What a plan without changes says: never plainly "in sync" when tor's next restart would undo it. */
function noChangesLine(plan: Plan): string {
  if (plan.launch) return 'No changes beyond starting it: it starts with what the spec says.';
  if (plan.lostOnRestart) return 'No changes: tor matches the spec, until it restarts or reloads (see the warning).';
  if (plan.restartUnknown !== undefined) return 'No changes: tor matches the spec now; whether it still will after it restarts or reloads is unknown (see the warning).';
  return 'No changes: tor matches the spec.';
}

/**
 * What `diff` adds on stderr when live and spec are the same: the warnings that say tor may not stay so
 * after its next restart or reload (persist: none).
 */
export function restartWarnings(plan: Plan): string[] {
  if (!plan.lostOnRestart && plan.restartUnknown === undefined) return [];
  return plan.warnings.filter((w) => w.item === 'persist').map((w) => w.message);
}

export function renderHuman(plan: Plan, color: boolean): string {
  const st = style(color);
  const out: string[] = [`Plan for ${plan.target} (tor ${plan.torVersion})`, ''];
  if (plan.launch) out.push(`  ${st.bold(launchNote(plan.launch))}`, '');
  const changes = plan.changes.filter((c) => c.action !== 'noop');
  if (!changes.length) out.push(`  ${noChangesLine(plan)}`);
  for (const c of changes) out.push(...changeBlock(c, st, plan));
  if (plan.steps.length) {
    out.push('', 'Steps, in order:');
    plan.steps.forEach((s, i) => out.push(`  ${String(i + 1).padStart(3)}. ${s.display}`));
  }
  const addresses = addressLines(plan.addresses);
  if (addresses.length) out.push('', 'Onion services:', ...addresses.map((l) => `  ${l}`));
  if (plan.warnings.length) {
    out.push('', st.yellow('Warnings:'));
    for (const w of plan.warnings) out.push(`  ${where(w)}${w.message}`);
  }
  if (plan.errors.length) {
    out.push('', st.red('Errors (the plan cannot be applied):'));
    for (const e of plan.errors) out.push(`  ${where(e)}${e.message}`);
  }
  out.push('', st.bold(`Plan: ${summaryLine(plan)}.`));
  return out.join('\n') + '\n';
}

/** JSON consumers get the plan as data; secrets are already `<redacted>` (Secret.toJSON). */
export function renderJson(plan: Plan, result?: ApplyResult): string {
  return JSON.stringify({ format_version: plan.format_version, plan, ...(result ? { result } : {}) }, null, 2) + '\n';
}

const MARKDOWN_LIMIT = 60_000;

export function renderMarkdown(plan: Plan): string {
  const changes = plan.changes.filter((c) => c.action !== 'noop');
  const out: string[] = [`### tor-reconcile plan: ${summaryLine(plan)}`, '', `Target \`${plan.target}\`, tor ${plan.torVersion}.`, ''];
  if (plan.launch) out.push(`**${launchNote(plan.launch)}**`, '');
  if (plan.errors.length) {
    out.push('**Errors — the plan cannot be applied:**', '');
    for (const e of plan.errors) out.push(`- ${where(e)}${e.message}`);
    out.push('');
  }
  if (plan.warnings.length) {
    out.push('**Warnings:**', '');
    for (const w of plan.warnings) out.push(`- ${where(w)}${w.message}`);
    out.push('');
  }
  if (!changes.length) out.push(noChangesLine(plan));
  else {
    out.push('| | kind | item | why |', '|---|---|---|---|');
    for (const c of changes) out.push(`| \`${SYMBOL[c.action]}\` | ${c.kind} | \`${c.id}\` | ${c.reason.replace(/\|/g, '\\|')}${c.needsRestart ? ` (${restartNote(plan)})` : ''} |`);
    out.push('', '```diff');
    for (const c of changes) {
      for (const [mark, line] of diffLines(changeLines(c, 'before'), changeLines(c, 'after'))) out.push(`${mark} ${line}`);
    }
    out.push('```');
  }
  const addresses = addressLines(plan.addresses);
  if (addresses.length) out.push('', '**Onion services:**', '', ...addresses.map((l) => `- ${l}`));
  if (plan.steps.length) {
    out.push('', '<details><summary>Commands</summary>', '', '```');
    for (const s of plan.steps) out.push(s.display);
    out.push('```', '</details>');
  }
  const text = out.join('\n') + '\n';
  if (text.length <= MARKDOWN_LIMIT) return text;
  const note = `\n\n_Truncated: the full plan is ${text.length} characters; run \`tor-reconcile plan --format json\` for all of it._\n`;
  const cut = text.slice(0, MARKDOWN_LIMIT - note.length - 8);
  // Close a code block the cut left open so the rest of the comment still renders.
  const open = (cut.match(/^```/gm) ?? []).length % 2 === 1;
  return cut.slice(0, cut.lastIndexOf('\n')) + (open ? '\n```' : '') + note;
}

/** One GitHub Actions workflow command (`::notice file=…,line=…::message`), escaped as the runner parses it. */
function workflowCommand(level: 'notice' | 'warning' | 'error', message: string, title: string, source?: { file: string; line: number; col: number }): string {
  const esc = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  // Property values end at `,` and `:` as well.
  const escProp = (s: string) => esc(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
  const at = source && source.line > 0 ? [`file=${escProp(source.file)}`, `line=${source.line}`, `col=${source.col}`] : source ? [`file=${escProp(source.file)}`] : [];
  return `::${level} ${[...at, `title=${escProp(title)}`].join(',')}::${esc(message)}`;
}

/**
 * GitHub Actions workflow commands: an `::error` per error, a `::warning` per warning and per change that needs
 * a tor restart, a `::notice` per other change; each at the spec line it comes from, so it shows in the diff.
 */
export function githubAnnotations(plan: Plan): string[] {
  const out: string[] = [];
  if (plan.launch) out.push(workflowCommand('notice', launchNote(plan.launch), 'tor-reconcile: tor will be launched by apply'));
  for (const e of plan.errors) out.push(workflowCommand('error', e.message, 'tor-reconcile: plan error', e.source));
  for (const w of plan.warnings) out.push(workflowCommand('warning', w.message, 'tor-reconcile: warning', w.source));
  for (const c of plan.changes) {
    if (c.action === 'noop') continue;
    const title = `tor-reconcile: ${c.action} ${c.kind} ${c.id}${c.needsRestart ? ' (needs tor restart)' : ''}`;
    const text = `${SYMBOL[c.action].trim()} ${c.kind} ${c.id}: ${c.reason}${c.needsRestart ? ` — ${restartNote(plan)}` : ''}`;
    out.push(workflowCommand(c.needsRestart ? 'warning' : 'notice', text, title, c.source));
  }
  return out;
}

/** The spec's own errors and warnings (before any plan exists) as workflow commands. */
export function githubDiagnostics(diagnostics: readonly SpecDiagnostic[]): string[] {
  return diagnostics.map((d) => workflowCommand(d.severity, d.message, `tor-reconcile: spec ${d.severity}`, d));
}

export function renderApplyHuman(result: ApplyResult, color: boolean): string {
  const st = style(color);
  const out: string[] = [];
  for (const r of result.results) {
    const mark = r.status === 'done' ? st.green('done   ') : r.status === 'failed' ? st.red('FAILED ') : st.dim('skipped');
    out.push(`  ${mark} ${r.step.display}`);
    if (r.error) out.push(`          ${st.red(r.error)}`);
    for (const w of r.torWarnings ?? []) out.push(`          ${st.yellow(`tor: ${w}`)}`);
  }
  const done = result.results.filter((r) => r.status === 'done').length;
  const failed = result.results.filter((r) => r.status === 'failed').length;
  const skipped = result.results.filter((r) => r.status === 'skipped').length;
  if (result.remaining.length) {
    out.push('', st.yellow('Tor still differs from the spec after applying:'));
    for (const c of result.remaining) out.push(`  ${c.kind} ${c.id}: ${c.reason}`);
  }
  const addresses = addressLines(result.addresses);
  if (addresses.length) out.push('', 'Onion services:', ...addresses.map((l) => `  ${l}`));
  out.push('', st.bold(`Apply ${result.ok ? 'complete' : result.interrupted ? 'interrupted' : 'FAILED'}: ${done} done, ${failed} failed, ${skipped} skipped.`));
  return out.join('\n') + '\n';
}
