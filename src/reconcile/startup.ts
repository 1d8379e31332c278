/**
 * The torrc options the embedded tor (tor.launch) starts with, on its first start and on every restart
 * apply does: tor.launch.options plus the spec's own options that must hold from tor's first second.
 * - Listeners: otherwise tor binds its default SocksPort 9050 until apply replaces it, and dies when
 *   another tor (Debian's own) holds that port.
 * - DisableNetwork: otherwise tor reaches for the network before apply could tell it not to.
 * - Restart-only options (IMMUTABLE_OPTIONS): tor takes them from its torrc only.
 * Everything else is set over the control port by apply, as on any tor.
 */
import type { DesiredState } from '../spec/model.js';
import { isSecret } from '../tor/secret.js';

/** The spec's options a launched tor must start with besides the restart-only ones (ControlPort is launch's own). */
export const STARTUP_OPTIONS: ReadonlySet<string> = new Set([
  'SocksPort',
  'DNSPort',
  'TransPort',
  'NATDPort',
  'HTTPTunnelPort',
  'ORPort',
  'DirPort',
  'ExtORPort',
  'MetricsPort',
  'DisableNetwork',
]);

export function startupOptions(desired: DesiredState): Record<string, string[]> {
  const out: Record<string, string[]> = { ...desired.tor.launch?.options };
  for (const o of desired.options) {
    if (!o.immutable && !STARTUP_OPTIONS.has(o.name)) continue;
    // Reset to tor's default: no torrc line. A secret stays out of the torrc; apply sets it.
    if (o.value === null) delete out[o.name];
    else if (!o.value.some(isSecret)) out[o.name] = o.value as string[];
  }
  return out;
}
