/**
 * Tor rebuilds its client credentials from ClientOnionAuthDir whenever it acts on its options
 * (plan-clientauth-reload.ts): a CONF_CHANGED, whoever caused it and whatever option it names, can have
 * cost the spec's credentials. So such an event is never an echo while the spec declares a credential tor
 * does not keep in a file, and watch re-reads tor (the view of its credentials with it) instead.
 */
import type { DesiredState } from '../../spec/model.js';
import type { Change } from '../types.js';
import type { ConfChangedEvent } from '../../tor/events.js';
import { changeId } from '../desired.js';

export function mayHaveDroppedCredentials(event: ConfChangedEvent, desired: DesiredState): boolean {
  if (desired.clientAuth.some((c) => !c.permanent)) return true;
  // Permanent ones are read again from their files, unless the directory itself moved.
  return desired.clientAuth.length > 0 && event.changes.some(([k]) => k.toLowerCase() === 'clientonionauthdir');
}

/**
 * The declared credentials watch polls for (OnionPoll): those without a file, which tor also forgets at a
 * SETCONF or RESETCONF that changes no value and so sends no CONF_CHANGED; not those held back (conflicts).
 */
export function forgettableCredentials(desired: DesiredState, held: ReadonlySet<string>): Set<string> {
  return new Set(desired.clientAuth.filter((c) => !c.permanent && !held.has(changeId('client-auth', c.address))).map((c) => c.address));
}

/**
 * Whether a change of a drift plan counts as undoing another controller (ConflictTracker). Adding a credential
 * back does not: tor drops credentials by itself at anyone's SETCONF, so one that keeps disappearing is most
 * often the side effect of a fight over an option, and holding it back would leave tor without it for the
 * whole backoff. (`update` of a credential is only ever that re-adding: plan-clientauth.ts.) Removing one, or
 * one whose key or name someone changed, still counts.
 */
export function countsAsRevert(change: Change): boolean {
  return !(change.kind === 'client-auth' && (change.action === 'create' || change.action === 'update'));
}
