/**
 * zod's findings about a spec, turned into positioned messages in the spec's own words: the place
 * (`onionServices[0].ports[1].port`), what was expected, what was written (unless it is secret).
 */
import type { z } from 'zod';
import type { Diagnostics } from './diagnostics.js';
import { knownKeys } from './schema.js';
import { describeNode, locate, pathLabel, type SpecNode } from './tree.js';

const EXPECTED: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  null: 'null',
};

function expectedWord(expected: string): string {
  return EXPECTED[expected] ?? expected;
}

function orList(words: readonly string[]): string {
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

export function reportIssues(issues: readonly z.core.$ZodIssue[], root: SpecNode, diags: Diagnostics): void {
  for (const issue of issues) {
    // A value that could not be read or interpolated was reported already; its placeholder is no news.
    if (!diags.hasErrorAt(issue.path.filter((p): p is string | number => typeof p !== 'symbol'))) reportIssue(issue, root, diags);
  }
}

function reportIssue(issue: z.core.$ZodIssue, root: SpecNode, diags: Diagnostics): void {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const found = locate(root, path);
  const here = found.node;
  const label = pathLabel(path);
  const missing = found.depth < path.length;
  const report = (message: string, at = here.loc) => diags.error(at, message, path);
  const reportMissing = (key: string, hint = '') => report(`${pathLabel(path.slice(0, found.depth))}: missing required key "${key}"${hint}`);

  switch (issue.code) {
    case 'unrecognized_keys': {
      const keys = knownKeys(path, (depth) => {
        const n = locate(root, path.slice(0, depth)).node;
        const type = n.kind === 'map' ? n.entries.get('type')?.value : undefined;
        return { type: type?.kind === 'scalar' ? type.value : undefined };
      });
      for (const key of issue.keys) {
        const entry = here.kind === 'map' ? here.entries.get(key) : undefined;
        const guess = keys ? closest(key, keys) : undefined;
        const hint = guess ? `; did you mean "${guess}"?` : keys ? `; expected ${orList(keys.map((k) => `"${k}"`))}` : '';
        diags.error(entry?.keyLoc ?? here.loc, `unknown key "${key}" in ${label}${hint}`, [...path, key]);
      }
      return;
    }
    case 'invalid_type':
      if (missing && found.depth === path.length - 1) return reportMissing(String(path[path.length - 1]));
      return report(`${label}: expected ${expectedWord(issue.expected)}, got ${describeNode(here)}`);
    case 'invalid_value':
      if (missing && found.depth === path.length - 1) return reportMissing(String(path[path.length - 1]), ` (${orList(issue.values.map((v) => JSON.stringify(v)))})`);
      return report(`${label} must be ${orList(issue.values.map((v) => JSON.stringify(v)))}, got ${describeNode(here)}`);
    case 'too_big':
    case 'too_small': {
      const small = issue.code === 'too_small';
      const bound = small ? (issue as z.core.$ZodIssueTooSmall).minimum : (issue as z.core.$ZodIssueTooBig).maximum;
      if (issue.origin === 'array') return report(`${label} must list at ${small ? 'least' : 'most'} ${bound} ${Number(bound) === 1 ? 'entry' : 'entries'}`);
      if (issue.origin === 'string') return report(`${label} must not be empty`);
      return report(`${label} must be at ${small ? 'least' : 'most'} ${bound}, got ${describeNode(here)}`);
    }
    case 'invalid_union': {
      const choice = issue as z.core.$ZodIssueInvalidUnion & { discriminator?: string; options?: unknown[] };
      if (choice.discriminator !== undefined) {
        const allowed = orList((choice.options ?? []).map((o) => JSON.stringify(o)));
        if (missing) return reportMissing(choice.discriminator, ` (${allowed})`);
        return report(`${label} must be ${allowed}, got ${describeNode(here)}`);
      }
      const expected = new Set<string>();
      for (const branch of choice.errors) for (const sub of branch) if (sub.code === 'invalid_type' && sub.path.length === 0) expected.add(expectedWord(sub.expected));
      return report(`${label}: expected ${orList([...expected])}, got ${describeNode(here)}`);
    }
    default:
      return report(`${label}: ${issue.message}`);
  }
}

/** The candidate a slip of the keyboard away from `word` (case, a letter or two), if there is one. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestScore = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const score = distance(lower, c.toLowerCase());
    if (score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = row;
  }
  return prev[b.length]!;
}
