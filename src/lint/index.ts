/** The security linter for specs: rules over the desired state, findings placed in the spec files. */
export { lintFiles, lintState, readSpecTexts } from './lint.js';
export { allRuleDocs, rules } from './rules/index.js';
export { renderRuleDocs } from './docs.js';
export { activeFindings } from './types.js';
export type { LintFinding, LintResult, LintSeverity, Rule, RuleDoc } from './types.js';
export type { SpecText } from './locate.js';
