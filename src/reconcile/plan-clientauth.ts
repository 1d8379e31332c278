/** Plan section: client credentials for onion services this tor visits. Remove before add. */
import type { DesiredState } from '../spec/model.js';
import { clientAuthPrivateKeyToBase64 } from '../tor/onion/index.js';
import { changeId } from './desired.js';
import { held, REDACTED, type Builder, type PlanContext } from './plan-common.js';
import { step } from './steps.js';
import type { ClientAuthShown, LiveState } from './types.js';

export function planClientAuth(desired: DesiredState, live: LiveState, ctx: PlanContext, b: Builder): void {
  const byAddress = new Map(live.clientAuth.map((c) => [c.address, c]));
  for (const c of desired.clientAuth) {
    const item = changeId('client-auth', c.address);
    if (held(ctx, item)) continue;
    const have = byAddress.get(c.address);
    const wantKey = clientAuthPrivateKeyToBase64(c.privateKey);
    const after: ClientAuthShown = { address: c.address, clientName: c.clientName ?? null, permanent: c.permanent, privateKey: REDACTED };
    const add = step('client-auth-add', { address: c.address, privateKey: wantKey, ...(c.clientName !== undefined ? { clientName: c.clientName } : {}), permanent: c.permanent }, [item]);
    if (!have) {
      b.change({ kind: 'client-auth', id: c.address, action: 'create', before: null, after, reason: 'no credentials for this service in tor', source: c.source });
      b.authSteps.push(add);
      continue;
    }
    const before: ClientAuthShown = { address: have.address, clientName: have.clientName ?? null, permanent: have.flags.includes('Permanent'), privateKey: REDACTED };
    const reasons: string[] = [];
    if (have.privateKey.reveal().replace(/=+$/, '') !== wantKey.reveal().replace(/=+$/, '')) reasons.push('key differs');
    if (before.permanent !== c.permanent) reasons.push('permanence differs');
    if ((have.clientName ?? null) !== (c.clientName ?? null)) reasons.push('client name differs');
    if (!reasons.length) {
      b.change({ kind: 'client-auth', id: c.address, action: 'noop', before, after, reason: 'in sync', source: c.source });
      continue;
    }
    b.change({ kind: 'client-auth', id: c.address, action: 'replace', before, after, reason: reasons.join('; '), source: c.source });
    b.authSteps.push(step('client-auth-remove', { address: c.address }, [item]), add);
  }
  const wanted = new Set(desired.clientAuth.map((c) => c.address));
  const extra = live.clientAuth.filter((c) => !wanted.has(c.address) && !held(ctx, changeId('client-auth', c.address)));
  if (!extra.length) return;
  if (desired.prune) {
    for (const c of extra) {
      const item = b.change({ kind: 'client-auth', id: c.address, action: 'delete', before: { address: c.address, clientName: c.clientName ?? null }, after: null, reason: 'not in the spec (prune: true)' });
      b.authSteps.unshift(step('client-auth-remove', { address: c.address }, [item]));
    }
  } else {
    b.warnings.push({ item: 'client-auth:*', message: `tor holds client credentials the spec does not declare (left alone): ${extra.map((c) => c.address).join(', ')}` });
  }
}
