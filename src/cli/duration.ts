import { CliUsageError } from './report.js';

/** `200ms`, `30s`, `5m`, `1h`, or a bare number of milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new CliUsageError(`${flag}: ${text} is not a duration (e.g. 200ms, 30s, 5m)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}

export const TIMEOUT_OPTION = ['--timeout <duration>', 'give up on a control command tor does not answer within this long', '60s'] as const;
