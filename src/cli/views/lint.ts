/** Lint findings as people (file:line:col, like validate), programs (JSON) and code scanning (SARIF 2.1.0) read them. */
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import type { LintFinding, LintResult, RuleDoc } from '../../lint/index.js';
import { activeFindings } from '../../lint/index.js';
import { plural } from '../report.js';

export function renderLintHuman(result: LintResult): string {
  const active = activeFindings(result);
  const out: string[] = [];
  for (const f of active) {
    const where = f.line > 0 ? `${f.file}:${f.line}:${f.col}` : f.file;
    out.push(`${where}: ${f.severity} ${f.ruleId}: ${f.message}`);
    // The caret keeps the line's tabs so it lands under the right character in a terminal.
    if (f.excerpt) out.push(`  ${f.excerpt}`, `  ${f.excerpt.slice(0, Math.max(0, f.col - 1)).replace(/[^\t]/g, ' ')}^`);
  }
  const count = (s: string) => active.filter((f) => f.severity === s).length;
  const suppressed = result.findings.length - active.length;
  const parts = [plural(count('error'), 'error'), plural(count('warning'), 'warning'), plural(count('note'), 'note')];
  out.push(`${active.length ? '' : 'no findings: '}${parts.join(', ')}${suppressed ? `, ${suppressed} suppressed` : ''}`);
  return `${out.join('\n')}\n`;
}

export function renderLintJson(result: LintResult): string {
  const active = activeFindings(result);
  const summary = { errors: active.filter((f) => f.severity === 'error').length, warnings: active.filter((f) => f.severity === 'warning').length, notes: active.filter((f) => f.severity === 'note').length, suppressed: result.findings.length - active.length };
  return `${JSON.stringify({ findings: result.findings, summary }, null, 2)}\n`;
}

const RULES_DOC = 'docs/lint-rules.md';

/**
 * SARIF 2.1.0 for GitHub code scanning: the rules' metadata, a result per finding located in its spec file
 * (a URI relative to `cwd`, where code scanning expects repository paths), and in-source suppressions.
 */
export function renderLintSarif(result: LintResult, docs: readonly RuleDoc[], version: string, cwd: string): string {
  const index = new Map(docs.map((d, i) => [d.id, i]));
  const sarif = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'tor-reconcile',
            version,
            rules: docs.map((d) => ({
              id: d.id,
              name: d.name,
              shortDescription: { text: d.summary },
              fullDescription: { text: d.rationale },
              help: { text: `${d.fix}\n\nSource: ${d.sources.join('; ')}`, markdown: `**Fix:** ${d.fix}\n\n**Source:** ${d.sources.join('; ')}\n\nSee ${RULES_DOC}.` },
              defaultConfiguration: { level: d.severity },
              properties: { tags: ['security', 'tor'] },
            })),
          },
        },
        results: result.findings.map((f) => sarifResult(f, index, cwd)),
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}

function sarifResult(f: LintFinding, index: Map<string, number>, cwd: string) {
  const region = f.line > 0 ? { region: { startLine: f.line, startColumn: Math.max(1, f.col) } } : {};
  return {
    ruleId: f.ruleId,
    ruleIndex: index.get(f.ruleId) ?? -1,
    level: f.severity,
    message: { text: f.message },
    locations: [{ physicalLocation: { artifactLocation: { uri: artifactUri(f.file, cwd) }, ...region } }],
    ...(f.suppression ? { suppressions: [{ kind: 'inSource', justification: f.suppression.reason }] } : {}),
  };
}

/** A relative file as a relative URI (forward slashes, escaped); one outside `cwd` as a file: URI. */
function artifactUri(file: string, cwd: string): string {
  const abs = path.resolve(cwd, file);
  const rel = path.relative(cwd, abs);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return pathToFileURL(abs).href;
  return rel.split(path.sep).map(encodeURIComponent).join('/');
}
