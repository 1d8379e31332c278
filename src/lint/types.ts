/**
 * The linter's vocabulary: rules (with the documentation `docs/lint-rules.md` is generated from) and the
 * findings they produce. Plain data; no rule opens a file, a socket or a tor.
 */
import type { SourcePos } from '../spec/model.js';
import type { ConfigView } from './config.js';

export type LintSeverity = 'error' | 'warning' | 'note';

/** A place in the merged spec, as keys and list indexes (`['onionServices', 0, 'ports', 1, 'target']`). */
export type SpecPath = ReadonlyArray<string | number>;

export interface RuleDoc {
  /** Stable: `TR` and three digits, never reused for another check. */
  id: string;
  /** Short kebab-case name (SARIF `name`). */
  name: string;
  severity: LintSeverity;
  /** One line: what the rule reports. */
  summary: string;
  /** One paragraph: why it matters. */
  rationale: string;
  /** Where the rationale comes from (tor's manual section, Tor Project guidance). */
  sources: string[];
  /** What to change in the spec. */
  fix: string;
}

/** What a rule reports: where in the spec, and why (the position is found from `at`, else `source`). */
export interface RuleHit {
  message: string;
  at: SpecPath;
  /** Where the item was written, when the loader recorded it: used when `at` cannot be found in the files. */
  source?: SourcePos;
}

export interface Rule extends RuleDoc {
  check(config: ConfigView): Iterable<RuleHit>;
}

export interface LintFinding {
  ruleId: string;
  severity: LintSeverity;
  message: string;
  /** The spec file as it was given; line and col 1-based (0 when only the file is known). */
  file: string;
  line: number;
  col: number;
  /** The source line, `''` when it is not shown (it may hold a literal secret). */
  excerpt: string;
  /** Present when a `# tor-reconcile: ignore` comment with a reason covers the finding. */
  suppression?: { reason: string; line: number };
}

export interface LintResult {
  /** Every finding, suppressed or not, in file order. */
  findings: LintFinding[];
}

/** Findings still in force (not suppressed). */
export function activeFindings(result: LintResult): LintFinding[] {
  return result.findings.filter((f) => !f.suppression);
}
