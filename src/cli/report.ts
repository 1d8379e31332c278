/**
 * What a person reads on stderr when a command fails: the spec's diagnostics, the one-line story of an
 * expected failure, or, for a bug, the stack trace. Every command reports through describeError.
 */
import { ReconcileError } from '../reconcile/errors.js';
// diagnostics.js, not spec/index.js: every command reports through here, and the spec loader (yaml, zod) is
// not every command's to load.
import { formatDiagnostic, sortDiagnostics, SpecErrors, type SpecDiagnostic } from '../spec/diagnostics.js';
import { TorError } from '../tor/errors.js';
import { sourceMappedStack } from './stack.js';

/** The command line is wrong: a flag value that makes no sense. Exit 2 (1 with --detailed-exitcode). */
export class CliUsageError extends Error {
  override name = 'CliUsageError';
}

/** An expected failure found by the CLI itself (a file it cannot write, a tor that is not running): exit 1. */
export class CliError extends Error {
  override name = 'CliError';
}

export type Failure = { kind: 'usage' | 'failed' | 'bug'; text: string };

export function describeError(err: unknown): Failure {
  if (err instanceof SpecErrors) return { kind: 'failed', text: formatReport([...err.errors, ...err.warnings]) };
  if (err instanceof CliUsageError) return { kind: 'usage', text: `tor-reconcile: ${err.message}\n` };
  // tor refused, could not be reached, a bad plan file…: the message is the whole story.
  if (err instanceof CliError || err instanceof TorError || err instanceof ReconcileError) return { kind: 'failed', text: `tor-reconcile: ${err.message}\n` };
  return { kind: 'bug', text: `tor-reconcile: internal error, please report it:\n${err instanceof Error ? sourceMappedStack(String(err.stack)) : String(err)}\n` };
}

/** Diagnostics in file order, then a count: what a person reads on stderr. */
export function formatReport(diagnostics: readonly SpecDiagnostic[]): string {
  if (diagnostics.length === 0) return '';
  const files = [...new Set(diagnostics.map((d) => d.file))];
  const sorted = sortDiagnostics(diagnostics, files);
  const errors = sorted.filter((d) => d.severity === 'error').length;
  const warnings = sorted.length - errors;
  const counts = [errors ? plural(errors, 'error') : '', warnings ? plural(warnings, 'warning') : ''].filter(Boolean).join(', ');
  return `${sorted.map(formatDiagnostic).join('\n')}\n${counts}\n`;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
