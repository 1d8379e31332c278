/**
 * Plan section: client credentials for onion services this tor visits. Remove before add. Planned after every
 * section that sends SETCONF/RESETCONF: those make tor forget credentials (plan-clientauth-reload.ts), which
 * this section then adds again, after them: an `update` of a credential is only ever that adding back
 * (watch/client-auth.ts relies on it).
 */
import type { DesiredState } from '../spec/model.js';
import { clientAuthPrivateKeyToBase64 } from '../tor/onion/index.js';
import { changeId } from './desired.js';
import { configReload, lostAtReload, type ConfigReload } from './plan-clientauth-reload.js';
import { held, REDACTED, type Builder, type PlanContext } from './plan-common.js';
import { step } from './steps.js';
import type { ClientAuthEntry } from '../tor/replies.js';
import type { ClientAuthShown, LiveState } from './types.js';

const HELD = 'left as it is (another controller keeps changing it)';

export function planClientAuth(desired: DesiredState, live: LiveState, ctx: PlanContext, b: Builder): void {
  const reload = configReload(b);
  const byAddress = new Map(live.clientAuth.map((c) => [c.address, c]));
  for (const c of desired.clientAuth) {
    const item = changeId('client-auth', c.address);
    const have = byAddress.get(c.address);
    if (held(ctx, item)) {
      if (have) keepAsHeld(have, HELD, reload, b);
      continue;
    }
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
      const lost = lostAtReload(reload, c.permanent);
      b.change({ kind: 'client-auth', id: c.address, action: lost ? 'update' : 'noop', before, after, reason: lost ?? 'in sync', source: c.source });
      if (lost) b.authSteps.push(add);
      continue;
    }
    b.change({ kind: 'client-auth', id: c.address, action: 'replace', before, after, reason: reasons.join('; '), source: c.source });
    b.authSteps.push(step('client-auth-remove', { address: c.address }, [item]), add);
  }
  const wanted = new Set(desired.clientAuth.map((c) => c.address));
  const undeclared = live.clientAuth.filter((c) => !wanted.has(c.address));
  for (const c of undeclared.filter((c) => held(ctx, changeId('client-auth', c.address)))) keepAsHeld(c, HELD, reload, b);
  const extra = undeclared.filter((c) => !held(ctx, changeId('client-auth', c.address)));
  if (!extra.length) return;
  if (desired.prune) {
    for (const c of extra) {
      const item = b.change({ kind: 'client-auth', id: c.address, action: 'delete', before: { address: c.address, clientName: c.clientName ?? null }, after: null, reason: 'not in the spec (prune: true)' });
      b.authSteps.unshift(step('client-auth-remove', { address: c.address }, [item]));
    }
  } else {
    b.warnings.push({ item: 'client-auth:*', message: `tor holds client credentials the spec does not declare (left alone): ${extra.map((c) => c.address).join(', ')}` });
    for (const c of extra) keepAsHeld(c, 'not in the spec (left alone)', reload, b);
  }
}

/**
 * A credential the plan leaves alone is still lost at the plan's own SETCONF: added again exactly as tor
 * holds it (its key as ONION_CLIENT_AUTH_VIEW showed it), so that leaving it alone stays true.
 */
function keepAsHeld(have: ClientAuthEntry, why: string, reload: ConfigReload | undefined, b: Builder): void {
  const permanent = have.flags.includes('Permanent');
  const lost = lostAtReload(reload, permanent);
  if (!lost) return;
  const shown: ClientAuthShown = { address: have.address, clientName: have.clientName ?? null, permanent, privateKey: REDACTED };
  const item = b.change({ kind: 'client-auth', id: have.address, action: 'update', before: shown, after: shown, reason: `${why}; ${lost}` });
  b.authSteps.push(step('client-auth-add', { address: have.address, privateKey: have.privateKey, ...(have.clientName !== undefined ? { clientName: have.clientName } : {}), permanent }, [item]));
}
