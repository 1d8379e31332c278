import { ReconcileError } from '../../reconcile/errors.js';
import { TorError } from '../../tor/errors.js';

/** An expected failure (tor refused, unreachable, bad plan file…): its message is the whole story. */
export function isExpected(err: unknown): err is Error {
  return err instanceof TorError || err instanceof ReconcileError;
}

export function describeError(err: unknown): string {
  if (isExpected(err)) return err.message;
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
