/**
 * Runs every rule over a loaded spec, places the findings in the spec files, and applies the files'
 * suppression comments. Read-only: it reads the spec files and nothing else, starts no tor, writes nothing.
 */
import { readFile } from 'node:fs/promises';
import { SpecErrors, type SpecDiagnostic } from '../spec/diagnostics.js';
import { loadSpecSources, type LoadResult } from '../spec/load.js';
import type { DesiredState } from '../spec/model.js';
import { ConfigView } from './config.js';
import { Locator, type Place, type SpecText } from './locate.js';
import { allRuleDocs, rules, suppressionMissingReason, suppressionUnused } from './rules/index.js';
import { parseSuppressions } from './suppress.js';
import type { LintFinding, LintResult, RuleDoc } from './types.js';

/** Lines that may hold a literal secret are not shown in excerpts. */
const SENSITIVE_LINE = /password|privatekey/i;

/** The spec files' texts; an unreadable file is a SpecErrors, as loadSpec reports it. */
export async function readSpecTexts(files: readonly string[]): Promise<SpecText[]> {
  const unreadable: SpecDiagnostic[] = [];
  const texts = await Promise.all(
    files.map(async (name) => {
      try {
        return { name, text: await readFile(name, 'utf8') };
      } catch (err) {
        unreadable.push({ file: name, line: 0, col: 0, message: `cannot read spec file: ${(err as Error).message}`, excerpt: '', severity: 'error' });
        return { name, text: '' };
      }
    }),
  );
  if (unreadable.length) throw new SpecErrors(unreadable);
  return texts;
}

/**
 * Loads the spec without its secrets (lint needs none; `${file:}` files are not read) and lints it.
 * Throws SpecErrors for a spec that does not load, as validate reports it.
 */
export async function lintFiles(files: readonly string[], env: Record<string, string | undefined>): Promise<{ result: LintResult; load: LoadResult }> {
  const texts = await readSpecTexts(files);
  const load = await loadSpecSources(texts, { env, skipSecrets: true });
  return { result: lintState(load.state, texts), load };
}

export function lintState(state: DesiredState, files: readonly SpecText[]): LintResult {
  const locator = new Locator(files);
  const config = new ConfigView(state);
  const found = new Map<string, LintFinding>();
  const finding = (rule: RuleDoc, message: string, place: Place): LintFinding => {
    const text = place.line > 0 ? locator.lineText(place.file, place.line) : '';
    return { ruleId: rule.id, severity: rule.severity, message, file: place.file, line: place.line, col: place.col, excerpt: SENSITIVE_LINE.test(text) ? '' : text };
  };
  for (const rule of rules) {
    for (const hit of rule.check(config)) {
      const place = locator.find(hit.at) ?? (hit.source ? { file: hit.source.file, line: hit.source.line, col: hit.source.col } : { file: files[0]!.name, line: 0, col: 0 });
      const f = finding(rule, hit.message, place);
      found.set(`${f.ruleId}\u0000${f.file}\u0000${f.line}\u0000${f.col}\u0000${f.message}`, f);
    }
  }
  const findings = [...found.values()];

  const { suppressions, malformed } = parseSuppressions(files);
  const meta: LintFinding[] = [];
  for (const s of suppressions) {
    const covered = findings.filter((f) => f.file === s.file && f.line === s.covers && s.ids.includes(f.ruleId));
    if (!s.reason) {
      meta.push(finding(suppressionMissingReason, `suppression of ${s.ids.join(', ')} gives no reason (write "-- <reason>"); it suppresses nothing`, s));
      continue;
    }
    for (const f of covered) f.suppression = { reason: s.reason, line: s.line };
    const unknown = s.ids.filter((id) => !allRuleDocs.some((r) => r.id === id));
    const unused = s.ids.filter((id) => !unknown.includes(id) && !covered.some((f) => f.ruleId === id));
    if (unknown.length) meta.push(finding(suppressionUnused, `suppression names unknown rule ${unknown.join(', ')}`, s));
    if (unused.length) meta.push(finding(suppressionUnused, `suppression of ${unused.join(', ')} covers no finding: none on line ${s.covers}`, s));
  }
  for (const m of malformed) meta.push(finding(suppressionMissingReason, `malformed suppression "${m.text}": write "# tor-reconcile: ignore TR004 -- <reason>"`, m));

  const order = files.map((f) => f.name);
  return {
    findings: [...findings, ...meta].sort((a, b) => order.indexOf(a.file) - order.indexOf(b.file) || a.line - b.line || a.col - b.col || (a.ruleId < b.ruleId ? -1 : a.ruleId > b.ruleId ? 1 : 0)),
  };
}

