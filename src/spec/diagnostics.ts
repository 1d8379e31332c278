/**
 * Spec problems as people read them: `spec.yaml:12:5: <message>`, the offending line, a caret under the column.
 * Every problem of a load is collected and reported together, so one run shows all there is to fix.
 */
import type { LineCounter } from 'yaml';

export type Severity = 'error' | 'warning';

export interface SpecDiagnostic {
  /** The spec file as it was given to loadSpec. */
  file: string;
  /** 1-based; 0 when the problem concerns the whole file (it could not be read). */
  line: number;
  /** 1-based, in UTF-16 code units; 0 with line 0. */
  col: number;
  message: string;
  /** The source line the problem is on, every secret written on it masked; `''` without a line. */
  excerpt: string;
  /** Where `col` falls in `excerpt` (1-based) when a masked secret before it changed the length; absent otherwise. */
  excerptCol?: number;
  severity: Severity;
}

/** A spec that cannot be used: every error found (never just the first), and the warnings seen on the way. */
export class SpecErrors extends Error {
  override name = 'SpecErrors';
  constructor(
    readonly errors: SpecDiagnostic[],
    readonly warnings: SpecDiagnostic[] = [],
  ) {
    super(formatDiagnostics(errors));
  }

  /** All errors, formatted as for a terminal, one after the other. */
  format(): string {
    return formatDiagnostics(this.errors);
  }
}

/**
 * `file:line:col: message`, then the source line and a caret under the column. Tabs before the column are
 * kept in the caret line so the caret lands under the right character in a terminal.
 */
export function formatDiagnostic(d: SpecDiagnostic): string {
  const prefix = d.severity === 'warning' ? 'warning: ' : '';
  if (d.line === 0) return `${d.file}: ${prefix}${d.message}`;
  const head = `${d.file}:${d.line}:${d.col}: ${prefix}${d.message}`;
  if (d.excerpt === '') return head;
  const pad = d.excerpt.slice(0, Math.max(0, (d.excerptCol ?? d.col) - 1)).replace(/[^\t]/g, ' ');
  return `${head}\n  ${d.excerpt}\n  ${pad}^`;
}

function formatDiagnostics(list: readonly SpecDiagnostic[]): string {
  return list.map(formatDiagnostic).join('\n');
}

/** One spec file's text, with what is needed to turn offsets into lines and columns. */
export interface SourceFile {
  /** As given to loadSpec: what diagnostics show. */
  name: string;
  /** Absolute path. */
  path: string;
  /** Absolute directory that relative paths in this file are resolved against. */
  dir: string;
  text: string;
  lines: LineCounter;
}

/** A span of a source file (offsets into its text). */
export interface Loc {
  source: SourceFile;
  start: number;
  end: number;
}

export type Path = ReadonlyArray<string | number>;

interface Finding {
  loc: Loc;
  message: string;
  severity: Severity;
}

/** Collects diagnostics in the order found, which parts of the spec are broken, and where secrets are written. */
export class Diagnostics {
  readonly #found: Finding[] = [];
  readonly #secrets: Loc[] = [];
  readonly #brokenPaths: string[] = [];
  #leftOut = false;

  /**
   * Records an error at `loc`. `path` marks that part of the spec as broken, so later stages skip it instead
   * of piling a second, confusing error on the first.
   */
  error(loc: Loc, message: string, path?: Path): void {
    this.#found.push({ loc, message, severity: 'error' });
    if (path) this.markBroken(path);
  }

  warn(loc: Loc, message: string): void {
    this.#found.push({ loc, message, severity: 'warning' });
  }

  /**
   * `loc` holds a secret. Excerpts are made when the diagnostics are read, so a secret is masked in every
   * excerpt that shows its line, whichever value the message is about (flow style puts several on a line).
   */
  secret(loc: Loc): void {
    this.#secrets.push(loc);
  }

  /** Leaves `path` out of the desired state without an error: the load is then incomplete (LoadResult.complete). */
  leaveOut(path: Path): void {
    this.markBroken(path);
    this.#leftOut = true;
  }

  /** A copy to go on with separately: what is found in one is not seen in the other. */
  fork(): Diagnostics {
    const copy = new Diagnostics();
    copy.#found.push(...this.#found);
    copy.#secrets.push(...this.#secrets);
    copy.#brokenPaths.push(...this.#brokenPaths);
    copy.#leftOut = this.#leftOut;
    return copy;
  }

  get complete(): boolean {
    return !this.#leftOut;
  }

  get errors(): SpecDiagnostic[] {
    return this.#found.filter((f) => f.severity === 'error').map((f) => this.#diagnostic(f));
  }

  get warnings(): SpecDiagnostic[] {
    return this.#found.filter((f) => f.severity === 'warning').map((f) => this.#diagnostic(f));
  }

  markBroken(path: Path): void {
    this.#brokenPaths.push(pathKey(path));
  }

  /** True when an error was recorded at `path` or at a place that contains it: there is nothing to use here. */
  hasErrorAt(path: Path): boolean {
    // The normalizer asks at every lookup, and a valid spec has nothing broken: no key to build then.
    if (this.#brokenPaths.length === 0) return false;
    const key = pathKey(path);
    return this.#brokenPaths.some((p) => p === key || p === '' || key.startsWith(`${p}\u0000`));
  }

  /** True when hasErrorAt(path), or an error was recorded anywhere inside it: the item is only partly valid. */
  isBroken(path: Path): boolean {
    if (this.#brokenPaths.length === 0) return false;
    const key = pathKey(path);
    return this.hasErrorAt(path) || this.#brokenPaths.some((p) => key === '' || p.startsWith(`${key}\u0000`));
  }

  #diagnostic({ loc, message, severity }: Finding): SpecDiagnostic {
    const { line, col } = loc.source.lines.linePos(loc.start);
    return { file: loc.source.name, line, col, message, ...excerpt(loc, line, col, this.#secrets), severity };
  }
}

function pathKey(path: Path): string {
  return path.map(String).join('\u0000');
}

const MASK = '<redacted>';

/** The line `loc` starts on, with the part of every secret on it masked, and the column moved to match. */
function excerpt(loc: Loc, line: number, col: number, secrets: readonly Loc[]): Pick<SpecDiagnostic, 'excerpt' | 'excerptCol'> {
  const starts = loc.source.lines.lineStarts;
  const from = starts[line - 1] ?? 0;
  const text = loc.source.text.slice(from, starts[line] ?? loc.source.text.length).replace(/\r?\n$/, '');
  const to = from + text.length;
  const spans = secrets
    .filter((s) => s.source === loc.source && s.start < to && s.end > from && s.end > s.start)
    .map((s) => [Math.max(s.start, from) - from, Math.min(s.end, to) - from] as const)
    .sort((x, y) => x[0] - y[0]);
  let out = '';
  let at = 0;
  let caret = col - 1;
  for (const [start, end] of spans) {
    if (end <= at) continue;
    const begin = Math.max(start, at);
    out += text.slice(at, begin) + MASK;
    // A caret inside a secret points at its mask; one after it moves by the difference in length.
    if (col - 1 >= end) caret += MASK.length - (end - begin);
    else if (col - 1 > begin) caret -= col - 1 - begin;
    at = end;
  }
  out += text.slice(at);
  return caret === col - 1 ? { excerpt: out } : { excerpt: out, excerptCol: caret + 1 };
}

/** Sorted by the order the files were given, then by position; exact repeats dropped. */
export function sortDiagnostics(list: readonly SpecDiagnostic[], fileOrder: readonly string[]): SpecDiagnostic[] {
  const rank = new Map(fileOrder.map((f, i) => [f, i]));
  const seen = new Set<string>();
  return [...list]
    .sort((a, b) => (rank.get(a.file) ?? 0) - (rank.get(b.file) ?? 0) || a.line - b.line || a.col - b.col)
    .filter((d) => {
      const key = `${d.file}\u0000${d.line}\u0000${d.col}\u0000${d.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
}
