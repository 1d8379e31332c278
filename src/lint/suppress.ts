/**
 * In-spec suppressions: a YAML comment `# tor-reconcile: ignore TR004 -- reason` (several IDs separated by
 * commas) on the line of the finding, or alone on the line just above it. The reason is required: a
 * suppression is a decision someone made, and the next reader needs to know why. One without a reason
 * suppresses nothing and is itself a finding (TR900); one that suppresses nothing is TR901.
 */
import type { SpecText } from './locate.js';

export interface Suppression {
  file: string;
  /** The comment's line. */
  line: number;
  /** The line whose findings it covers. */
  covers: number;
  ids: string[];
  /** Empty when missing. */
  reason: string;
  col: number;
}

/** `#` starts a comment only at a line's start or after white space (YAML); `tor-reconcile: ignore` is the marker. */
const DIRECTIVE = /(?:^|\s)#\s*tor-reconcile:\s*ignore\b(.*)$/;

export function parseSuppressions(files: readonly SpecText[]): { suppressions: Suppression[]; malformed: Array<{ file: string; line: number; col: number; text: string }> } {
  const suppressions: Suppression[] = [];
  const malformed: Array<{ file: string; line: number; col: number; text: string }> = [];
  for (const f of files) {
    const lines = f.text.split(/\r?\n/);
    lines.forEach((text, i) => {
      const m = DIRECTIVE.exec(text);
      if (!m) return;
      const col = text.indexOf('#', m.index) + 1;
      const [idsPart, ...rest] = m[1]!.split('--');
      const ids = (idsPart ?? '').split(/[\s,]+/).filter(Boolean);
      if (ids.length === 0 || !ids.every((id) => /^TR\d{3}$/.test(id))) {
        malformed.push({ file: f.name, line: i + 1, col, text: text.slice(col - 1) });
        return;
      }
      const ownLine = text.slice(0, col - 1).trim() === '';
      suppressions.push({ file: f.name, line: i + 1, covers: ownLine ? nextContentLine(lines, i) : i + 1, ids, reason: rest.join('--').trim(), col });
    });
  }
  return { suppressions, malformed };
}

/** The line (1-based) a comment on its own line `i` (0-based) stands above: the next that is not blank or a comment. */
function nextContentLine(lines: readonly string[], i: number): number {
  for (let j = i + 1; j < lines.length; j++) {
    const t = lines[j]!.trim();
    if (t !== '' && !t.startsWith('#')) return j + 1;
  }
  return i + 1;
}
