/** Every rule, in ID order. A new rule is added to its group's file; IDs are never reused. */
import type { Rule, RuleDoc } from '../types.js';
import { attachRules } from './attach.js';
import { exposureRules } from './exposure.js';
import { loggingRules } from './logging.js';
import { onionRules } from './onion.js';
import { pathRules } from './paths.js';

// IDs are ASCII (`TR004`): compared as text, not with localeCompare, whose first call loads ICU's collation
// (~6 ms of every `plan`, which loads the rules).
export const rules: readonly Rule[] = [...exposureRules, ...onionRules, ...pathRules, ...loggingRules, ...attachRules].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

/** Findings about the suppression comments themselves (made by the engine, not by a check over the config). */
export const suppressionMissingReason: RuleDoc = {
  id: 'TR900',
  name: 'suppression-without-reason',
  severity: 'warning',
  summary: 'A `# tor-reconcile: ignore` comment without a reason, or without a valid rule ID',
  rationale:
    'A suppression is a decision that a finding does not apply here. Without the reason, the next person cannot tell a considered exception from a silenced warning, and cannot tell when it stops being true. Such a comment suppresses nothing.',
  sources: ['tor-reconcile lint (docs/lint-rules.md, "Suppressions")'],
  fix: 'Write `# tor-reconcile: ignore TR004 -- <why this is safe here>` (rule IDs separated by commas, then `--` and the reason).',
};

export const suppressionUnused: RuleDoc = {
  id: 'TR901',
  name: 'suppression-unused',
  severity: 'warning',
  summary: 'A suppression that covers no finding (the finding is gone, or the rule ID or line is wrong)',
  rationale:
    'A suppression left behind after its finding was fixed hides the next real finding of that rule on that line; one naming the wrong rule or line never worked at all.',
  sources: ['tor-reconcile lint (docs/lint-rules.md, "Suppressions")'],
  fix: 'Remove the comment, or move it to the line the finding is reported on (or just above it) and name that finding\'s rule.',
};

export const allRuleDocs: readonly RuleDoc[] = [...rules, suppressionMissingReason, suppressionUnused];
