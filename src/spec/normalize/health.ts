/**
 * `health:`: watch's self-check settings (`check: { socks, intervalSeconds, timeoutSeconds }`), kept as given;
 * watch applies its defaults and its command-line flags over them.
 */
import type { HealthSpec } from '../model.js';
import { pos, type SpecReader } from './reader.js';

export function health(r: SpecReader): HealthSpec | undefined {
  if (!r.node(['health', 'check'])) return undefined;
  const check: HealthSpec['check'] = { source: pos(r.keyLoc(['health', 'check'])) };
  const socks = r.str(['health', 'check', 'socks']);
  if (socks) check.socks = socks;
  const interval = r.scalar(['health', 'check', 'intervalSeconds'])?.value;
  if (typeof interval === 'number') check.intervalMs = interval * 1000;
  const timeout = r.scalar(['health', 'check', 'timeoutSeconds'])?.value;
  if (typeof timeout === 'number') check.timeoutMs = timeout * 1000;
  return { check };
}
