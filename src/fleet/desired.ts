/**
 * What one target of a fleet spec gets: a DesiredState of its own, as if it were a spec of one tor, so that
 * the single-tor reconciler plans and applies it unchanged. Pure.
 *
 * - options: the top-level ones, each overridden by the target's option of the same name, then the
 *   target's others;
 * - onion services: those that name the target, or name none;
 * - a backend of a balanced service: its filesystem service, with ob_config naming the frontend;
 * - state directory: `<stateDirectory>/targets/<name>/`, so records, the lock and generated keys are the
 *   target's own (a key generated for A is never B's; a `key: { file }` the spec shares is shared).
 */
import path from 'node:path';
import type { DesiredOption, DesiredState, FleetTarget } from '../spec/model.js';
import { backendServices, type Frontend } from './balanced.js';

/** `frontends`: the balanced services' frontends (balanced.ts), whose backends this target may be. */
export function targetState(fleet: DesiredState, target: FleetTarget, frontends: readonly Frontend[] = []): DesiredState {
  const stateDirectory = path.join(fleet.stateDirectory, 'targets', target.name);
  const { targets: _all, balanced: _balanced, ...rest } = fleet;
  return {
    ...rest,
    tor: { control: target.control, ...(target.password ? { password: target.password } : {}), ...(target.cookieFile ? { cookieFile: target.cookieFile } : {}) },
    stateDirectory,
    options: mergeOptions(fleet.options, target.options),
    onionServices: [
      ...fleet.onionServices
        .filter((s) => !s.targets || s.targets.includes(target.name))
        .map((s) => (s.type === 'ephemeral' && s.keyFile === generatedKey(fleet.stateDirectory, s.name) ? { ...s, keyFile: generatedKey(stateDirectory, s.name) } : s)),
      ...backendServices(frontends, target.name),
    ],
  };
}

/** Where `key: { generate: true }` keeps a service's key (src/spec/normalize/services.ts). */
function generatedKey(stateDirectory: string, name: string): string {
  return path.join(stateDirectory, 'keys', `${name}.key`);
}

function mergeOptions(common: readonly DesiredOption[], own: readonly DesiredOption[]): DesiredOption[] {
  const overrides = new Map(own.map((o) => [o.name, o]));
  const merged = common.map((o) => overrides.get(o.name) ?? o);
  const present = new Set(common.map((o) => o.name));
  return [...merged, ...own.filter((o) => !present.has(o.name))];
}

/** The targets `names` selects (all when empty), in spec order; unknown names are returned apart. */
export function selectTargets(fleet: DesiredState, names: readonly string[]): { selected: FleetTarget[]; unknown: string[] } {
  const all = fleet.targets ?? [];
  const known = new Set(all.map((t) => t.name));
  return { selected: names.length ? all.filter((t) => names.includes(t.name)) : all, unknown: names.filter((n) => !known.has(n)) };
}
