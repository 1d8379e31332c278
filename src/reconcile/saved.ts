/**
 * Saved plans (`plan --out plan.json`, then `apply plan.json`): the file holds the plan as data, secrets
 * redacted, mode 0600. Applying it recomputes the plan from the same spec files against tor and refuses
 * unless tor's state is still the one the plan was computed from and the steps are exactly the saved ones
 * (the secrets digest also catches a changed `${env:}` value). What runs is therefore what was reviewed.
 */
import { readFile } from 'node:fs/promises';
import { writeSecretFileAtomic } from '../tor/onion/index.js';
import { StalePlanError } from './errors.js';
import { isEmptyPlan, secretsDigest } from './plan.js';
import type { Plan } from './types.js';

export async function writePlanFile(file: string, plan: Plan): Promise<void> {
  // Without the digest a changed `${env:}` value would go unnoticed when the plan is applied.
  if (plan.secretsDigest === undefined) throw new Error('a plan is saved only with its secrets digest: compute it with a salt (PlanContext.salt)');
  await writeSecretFileAtomic(file, JSON.stringify(plan, null, 2) + '\n', 0o600);
}

export async function readPlanFile(file: string): Promise<Plan> {
  const text = await readFile(file, 'utf8');
  let plan: Plan;
  try {
    plan = JSON.parse(text) as Plan;
  } catch (err) {
    throw new StalePlanError(`${file}: not a plan file (${(err as Error).message})`);
  }
  if (plan.format_version !== 1 || !Array.isArray(plan.steps) || !Array.isArray(plan.specFiles) || typeof plan.secretsDigest !== 'string') {
    throw new StalePlanError(`${file}: not a tor-reconcile plan (format_version ${String(plan.format_version)})`);
  }
  return plan;
}

/** The salt the saved plan's digest was made with, so the fresh plan can be compared with it. */
export function savedSalt(plan: Plan): string {
  return plan.secretsDigest?.split(':')[0] ?? '';
}

/** Throws StalePlanError when `fresh` (recomputed now, with the saved salt) is not the saved plan. */
export function checkSavedPlan(saved: Plan, fresh: Plan): void {
  if (saved.liveFingerprint !== fresh.liveFingerprint) {
    // Running a plan a second time: tor is now what the plan would have made it, which is no change at all.
    if (saved.steps.length > 0 && isEmptyPlan(fresh)) throw new StalePlanError('already applied: tor already matches what this plan makes it; nothing to do');
    const changed = changedItems(saved, fresh);
    // No item shows a difference: what changed is something the plan judged without showing it, such as who
    // tor runs as or the owners and modes of the state directory, key files and service directories.
    const what = changed.length ? `tor's state changed since the plan was made (${changed.join(', ')})` : "tor's state or the files the plan checked (who tor runs as; owners, modes and links of the state directory, key files and service directories) changed since the plan was made";
    throw new StalePlanError(`stale plan: ${what}; run plan again`);
  }
  // Whole steps, not their display: a rotated client key changes a write-file's content and nothing shown.
  // Secrets serialize as <redacted>; the secrets digest below covers their values.
  if (JSON.stringify(saved.steps) !== JSON.stringify(fresh.steps)) {
    throw new StalePlanError('stale plan: the spec now gives different steps than the saved plan; run plan again');
  }
  if (`${savedSalt(saved)}:${secretsDigest(savedSalt(saved), fresh.steps)}` !== saved.secretsDigest) {
    throw new StalePlanError('stale plan: a secret value (an ${env:} or ${file:} interpolation) changed since the plan was made; run plan again');
  }
}

/** The items whose state as read from tor differs between the two plans, as `kind id`; in the fresh plan's order. */
function changedItems(saved: Plan, fresh: Plan): string[] {
  const before = new Map(saved.changes.map((c) => [`${c.kind} ${c.id}`, JSON.stringify(c.before)]));
  const names = fresh.changes.filter((c) => before.get(`${c.kind} ${c.id}`) !== JSON.stringify(c.before)).map((c) => `${c.kind} ${c.id}`);
  // An item the saved plan changed and the fresh one no longer mentions changed as well.
  const now = new Set(fresh.changes.map((c) => `${c.kind} ${c.id}`));
  return [...names, ...[...before.keys()].filter((k) => !now.has(k))];
}
