/** Plan section: managed options (the spec's and those its attach policies compile to) → one RESETCONF, one SETCONF. */
import type { DesiredOption, DesiredState } from '../spec/model.js';
import { canonical, sameValue } from '../tor/config/normalize.js';
import { SECRET_OPTIONS } from '../tor/config/secrets.js';
import { isSecret, reveal, Secret, type MaybeSecret } from '../tor/secret.js';
import { changeId, resolveDesired } from './desired.js';
import { held, REDACTED, type Builder, type PlanContext } from './plan-common.js';
import { step } from './steps.js';
import type { LiveState, OptionShown } from './types.js';

/**
 * The spec's options plus those its native attach policies compile to; the policies that need a live
 * controller are named so nobody believes `apply` alone enforces them.
 */
export function withAttachOptions(desired: DesiredState, b: Builder): readonly DesiredOption[] {
  const { options, attach: compiled, conflicts } = resolveDesired(desired);
  for (const note of compiled.notes) b.warnings.push({ item: 'attach', message: note, ...(desired.attach ? { source: desired.attach.source } : {}) });
  if (compiled.livePolicies.length) {
    b.warnings.push({ item: 'attach', message: `attach policies ${compiled.livePolicies.join(', ')} are enforced only while \`tor-reconcile watch\` runs`, ...(desired.attach ? { source: desired.attach.source } : {}) });
  }
  for (const { spec, policy } of conflicts) {
    b.errors.push({ item: changeId('option', policy.name), message: `attach policy at ${policy.source.file}:${policy.source.line} sets ${policy.name}, which options also sets; keep one`, source: spec.source });
  }
  return options;
}

function shown(values: readonly MaybeSecret[]): OptionShown {
  const plain = values.map((v) => (isSecret(v) ? REDACTED : v));
  return plain.length === 1 ? plain[0]! : plain;
}

export function planOptions(options: readonly DesiredOption[], live: LiveState, ctx: PlanContext, b: Builder): void {
  const sets: Array<[string, MaybeSecret | null]> = [];
  const resets: string[] = [];
  const ids: string[] = [];
  const resetIds: string[] = [];
  for (const o of options) {
    const info = ctx.table.get(o.name);
    if (!info) {
      b.errors.push({ item: changeId('option', o.name), message: `tor ${live.torVersion} does not know the option ${o.name}`, source: o.source });
      continue;
    }
    if (held(ctx, changeId('option', info.name))) continue;
    const current = live.options.get(info.name) ?? [];
    // Tor's current value of a password option is as secret as the spec's, whichever side is being shown.
    const secret = SECRET_OPTIONS.has(info.name) || (o.value?.some(isSecret) ?? false);
    const before = secret ? REDACTED : shown(current);
    const base = { kind: 'option' as const, id: info.name, source: o.source };
    if (o.value === null) {
      if (sameValue(info, current, info.defaults)) {
        b.change({ ...base, action: 'noop', before, after: before, reason: 'already at its default' });
        continue;
      }
      const id = b.change({ ...base, action: 'delete', before, after: secret ? REDACTED : shown(info.defaults), reason: 'reset to default', ...(info.immutable ? { needsRestart: true } : {}) });
      if (!info.immutable) {
        resets.push(info.name);
        resetIds.push(id);
      }
      continue;
    }
    const want = o.value.map(reveal);
    if (sameValue(info, want, current)) {
      b.change({ ...base, action: 'noop', before, after: before, reason: 'in sync' });
      continue;
    }
    const after = secret ? REDACTED : shown(canonical(info, want));
    if (info.immutable) {
      b.change({ ...base, action: 'update', before, after, reason: `tor can't change ${info.name} while running: restart tor with the new value`, needsRestart: true });
      continue;
    }
    ids.push(b.change({ ...base, action: 'update', before, after, reason: current.length ? 'value differs' : 'not set' }));
    if (!o.value.length) sets.push([info.name, null]);
    // Written in the spec as plain text or not, a password's value is shown redacted in the command too.
    for (const v of o.value) sets.push([info.name, secret && !isSecret(v) ? new Secret(v) : v]);
  }
  if (resets.length) b.optionSteps.push(step('resetconf', { keys: resets }, resetIds));
  if (sets.length) b.optionSteps.push(step('setconf', { entries: sets }, ids));
}
