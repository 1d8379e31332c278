/**
 * Tor adds values (a status severity, an auth method, a reply form) that the control spec tells controllers
 * to tolerate. Parsers keep such replies and mark the part they did not understand; this says so once per
 * process and kind, so a long-running controller is told without its log filling up.
 */
const warned = new Set<string>();

export const UNRECOGNIZED_WARNING = 'TOR_RECONCILE_UNRECOGNIZED';

export function warnOnce(key: string, message: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  process.emitWarning(message, { code: UNRECOGNIZED_WARNING });
}
