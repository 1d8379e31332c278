/**
 * `plan` runs the linter over the spec it planned: findings join the plan's warnings, so every view shows
 * them where it shows warnings; with --lint-strict the error- and warning-level ones block the plan (they
 * become plan errors, which apply refuses). Notes and suppressed findings never show here.
 */
import { activeFindings, lintState, readSpecTexts } from '../lint/index.js';
import type { Plan, PlanProblem } from '../reconcile/types.js';
import type { DesiredState } from '../spec/index.js';

export async function withLintFindings(plan: Plan, specs: readonly string[], desired: DesiredState, strict: boolean): Promise<Plan> {
  const result = lintState(desired, await readSpecTexts(specs));
  const problems: PlanProblem[] = activeFindings(result)
    .filter((f) => f.severity !== 'note')
    .map((f) => ({ item: `lint:${f.ruleId}`, message: `lint ${f.ruleId} (${f.severity}): ${f.message}`, ...(f.line > 0 ? { source: { file: f.file, line: f.line, col: f.col } } : {}) }));
  if (problems.length === 0) return plan;
  return strict ? { ...plan, errors: [...plan.errors, ...problems] } : { ...plan, warnings: [...plan.warnings, ...problems] };
}
