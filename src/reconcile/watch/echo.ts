/**
 * Our own SETCONF comes back as CONF_CHANGED. An event whose managed keys already all have their desired
 * values is such an echo: nothing to do, no need even to read tor. Anything else is treated as drift and
 * costs one read — never a write unless tor really differs.
 */
import { sameValue } from '../../tor/config/normalize.js';
import type { OptionTable } from '../../tor/config/types.js';
import type { ConfChangedEvent } from '../../tor/events.js';
import { reveal } from '../../tor/secret.js';
import type { ResolvedDesired } from '../desired.js';

/**
 * Managed keys are the spec's options and those its native attach policies compile to (`resolved.byName`).
 * HiddenService* lines are not compared here (the plan compares the block as a whole): when the spec
 * manages the block, they are drift.
 */
export function isEcho(event: ConfChangedEvent, resolved: ResolvedDesired, table: OptionTable | undefined): boolean {
  const { desired, byName: managed } = resolved;
  const byName = new Map<string, string[]>();
  for (const [k, v] of event.changes) {
    const list = byName.get(k) ?? [];
    if (v !== null) list.push(v);
    byName.set(k, list);
  }
  for (const [name, values] of byName) {
    if (name.startsWith('HiddenService')) {
      if (desired.onionServices.some((s) => s.type === 'filesystem') || desired.prune) return false;
      continue;
    }
    const want = managed.get(name.toLowerCase());
    if (!want) continue;
    const info = table?.get(want.name);
    if (!info || want.value === null) return false;
    if (!sameValue(info, want.value.map(reveal), values)) return false;
  }
  return true;
}
