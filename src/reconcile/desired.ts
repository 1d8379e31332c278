/**
 * What a spec wants, resolved once per spec load: the options the reconciler manages (the spec's own plus
 * those its native attach policies compile to), and the spec's identity in the state directory. Reading
 * tor, planning and watch's echo check all use this one answer; computing it in each of them is how watch
 * once mistook another controller's `ExitNodes` for its own write (it looked at the spec's options only).
 */
import type { DesiredOption, DesiredState } from '../spec/model.js';
import { compileAttach, type CompiledAttach } from './attach/compile.js';
import type { ChangeKind } from './types.js';

export interface ResolvedDesired {
  desired: DesiredState;
  /** Every managed option: the spec's, plus its native policies' (a policy's SocksPort replaces the spec's lines). */
  options: readonly DesiredOption[];
  /** `options` by lower-case name (tor's names are case-insensitive, CONF_CHANGED uses its own case). */
  byName: ReadonlyMap<string, DesiredOption>;
  attach: CompiledAttach;
  /** An option both the spec and a native policy set: the spec's value is kept, and the plan refuses it. */
  conflicts: ReadonlyArray<{ spec: DesiredOption; policy: DesiredOption }>;
  /** Which spec a record in the state directory belongs to: several specs may share one. */
  specId: string;
}

const resolved = new WeakMap<DesiredState, ResolvedDesired>();

/** A DesiredState is never modified once loaded, so its resolution is computed once and shared. */
export function resolveDesired(desired: DesiredState): ResolvedDesired {
  const known = resolved.get(desired);
  if (known) return known;
  const attach = compileAttach(desired.attach, desired.options);
  const options = [...desired.options];
  const conflicts: Array<{ spec: DesiredOption; policy: DesiredOption }> = [];
  for (const o of attach.options) {
    const i = options.findIndex((x) => x.name === o.name);
    if (i >= 0 && o.name !== 'SocksPort') conflicts.push({ spec: options[i]!, policy: o });
    else if (i >= 0) options[i] = o;
    else options.push(o);
  }
  const r: ResolvedDesired = {
    desired,
    options,
    byName: new Map(options.map((o) => [o.name.toLowerCase(), o])),
    attach,
    conflicts,
    specId: desired.files.join('\n'),
  };
  resolved.set(desired, r);
  return r;
}

/** The id of a change, as plan steps, problems and watch's conflict tracker name it: `kind:id`. */
export function changeId(kind: ChangeKind, id: string): string {
  return `${kind}:${id}`;
}
