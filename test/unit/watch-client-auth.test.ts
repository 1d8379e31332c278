import { describe, expect, it } from 'vitest';
import type { Change } from '../../src/reconcile/types.js';
import { countsAsRevert, forgettableCredentials, mayHaveDroppedCredentials } from '../../src/reconcile/watch/client-auth.js';
import type { ConfChangedEvent } from '../../src/tor/events.js';
import { Secret } from '../../src/tor/secret.js';
import { clientAuth, desiredState } from '../helpers/desired.js';

const a = 'a'.repeat(56);
const b = 'b'.repeat(56);
const key = new Secret('k');
const event = (...changes: Array<[string, string | null]>): ConfChangedEvent => ({ type: 'CONF_CHANGED', changes }) as unknown as ConfChangedEvent;

describe("watch and tor's reloads of client credentials", () => {
  it('treats every CONF_CHANGED as a possible loss while a credential has no file', () => {
    const eph = desiredState('/s', { clientAuth: [clientAuth(a, key)] });
    expect(mayHaveDroppedCredentials(event(['Nickname', 'x']), eph)).toBe(true);
    const perm = desiredState('/s', { clientAuth: [clientAuth(a, key, { permanent: true })] });
    expect(mayHaveDroppedCredentials(event(['Nickname', 'x']), perm)).toBe(false);
    expect(mayHaveDroppedCredentials(event(['ClientOnionAuthDir', '/elsewhere']), perm)).toBe(true);
    expect(mayHaveDroppedCredentials(event(['clientonionauthdir', null]), perm)).toBe(true);
    expect(mayHaveDroppedCredentials(event(['ClientOnionAuthDir', '/elsewhere']), desiredState('/s'))).toBe(false);
  });

  it('polls for the credentials without a file that are not held back', () => {
    const d = desiredState('/s', { clientAuth: [clientAuth(a, key), clientAuth(b, key), clientAuth('c'.repeat(56), key, { permanent: true })] });
    expect(forgettableCredentials(d, new Set())).toEqual(new Set([a, b]));
    expect(forgettableCredentials(d, new Set([`client-auth:${b}`]))).toEqual(new Set([a]));
  });

  it('does not count adding a credential back as a fight, but does count removing or replacing one', () => {
    const change = (action: Change['action'], kind: Change['kind'] = 'client-auth') => ({ kind, id: a, action, reason: '', before: null, after: null }) as Change;
    expect(countsAsRevert(change('create'))).toBe(false);
    expect(countsAsRevert(change('update'))).toBe(false);
    expect(countsAsRevert(change('replace'))).toBe(true);
    expect(countsAsRevert(change('delete'))).toBe(true);
    expect(countsAsRevert(change('update', 'option'))).toBe(true);
    expect(countsAsRevert(change('create', 'ephemeral-service'))).toBe(true);
  });
});
