import { describe, expect, it } from 'vitest';
import { computePlan, type PlanContext } from '../../src/reconcile/plan.js';
import type { LiveState, StepOf } from '../../src/reconcile/types.js';
import { OptionTable } from '../../src/tor/config/types.js';
import { generateClientAuthKeyPair } from '../../src/tor/onion/index.js';
import { Secret } from '../../src/tor/secret.js';
import type { ClientAuthEntry } from '../../src/tor/replies.js';
import { clientAuth, desiredState } from '../helpers/desired.js';

const ctx: PlanContext = { table: OptionTable.bundled(), target: 'unix:/test', uid: 0, salt: 'salt' };

function live(parts: Partial<LiveState> = {}): LiveState {
  return {
    torVersion: '0.4.9.11',
    torUid: 0,
    options: new Map(),
    services: [],
    serviceFiles: new Map(),
    detachedOnions: [],
    clientAuth: [],
    ephemeralKeys: new Map(),
    records: new Map(),
    fingerprint: 'fp',
    ...parts,
  };
}

describe('client auth plans (sections)', () => {
  const k = generateClientAuthKeyPair();
  const other = generateClientAuthKeyPair();
  const addr = 'c'.repeat(56);
  const addr2 = 'd'.repeat(56);
  const at = { file: 'test.yaml', line: 1, col: 1 };
  /** What tor lists in ONION_CLIENT_AUTH_VIEW: the base64 key, which tor prints without its "=" padding. */
  const entry = (address: string, key: Secret<string>, extra: Partial<ClientAuthEntry> = {}): ClientAuthEntry => ({
    address,
    keyType: 'x25519',
    privateKey: new Secret(key.reveal().replace(/=+$/, '')),
    flags: [],
    ...extra,
  });

  it('adds missing credentials: a create change with the redacted key, the client name and permanence', () => {
    const p = computePlan(desiredState('/s', { clientAuth: [clientAuth(addr, k.privateKey, { clientName: 'laptop' })] }), live(), ctx);
    expect(p.changes).toEqual([
      {
        kind: 'client-auth',
        id: addr,
        action: 'create',
        before: null,
        after: { address: addr, clientName: 'laptop', permanent: false, privateKey: '<redacted>' },
        reason: 'no credentials for this service in tor',
        source: at,
      },
    ]);
    expect(p.steps).toHaveLength(1);
    const add = p.steps[0] as StepOf<'client-auth-add'>;
    expect(add).toMatchObject({ op: 'client-auth-add', address: addr, clientName: 'laptop', permanent: false, changes: [`client-auth:${addr}`] });
    expect(add.privateKey.reveal()).toBe(k.privateKeyBase64.reveal());
    expect(add.display).toBe(`ONION_CLIENT_AUTH_ADD ${addr} x25519:<redacted> ClientName=laptop`);
  });

  it('leaves the client name out of the command when the spec gives none', () => {
    const p = computePlan(desiredState('/s', { clientAuth: [clientAuth(addr, k.privateKey)] }), live(), ctx);
    expect(p.steps[0]).not.toHaveProperty('clientName');
    expect(p.changes[0]).toMatchObject({ after: { clientName: null } });
  });

  it('is in sync when tor holds the same key (without its padding), name and permanence', () => {
    const d = desiredState('/s', { clientAuth: [clientAuth(addr, k.privateKey, { clientName: 'laptop', permanent: true })] });
    const p = computePlan(d, live({ clientAuth: [entry(addr, k.privateKeyBase64, { clientName: 'laptop', flags: ['Permanent'] })] }), ctx);
    expect(p.steps).toEqual([]);
    expect(p.warnings).toEqual([]);
    const shown = { address: addr, clientName: 'laptop', permanent: true, privateKey: '<redacted>' };
    expect(p.changes).toEqual([{ kind: 'client-auth', id: addr, action: 'noop', before: shown, after: shown, reason: 'in sync', source: at }]);
  });

  it('is in sync without a client name on either side, and with the key padded as the spec gives it', () => {
    const d = desiredState('/s', { clientAuth: [clientAuth(addr, k.privateKey)] });
    const padded = computePlan(d, live({ clientAuth: [{ ...entry(addr, k.privateKeyBase64), privateKey: k.privateKeyBase64 }] }), ctx);
    expect(padded.steps).toEqual([]);
    expect(padded.changes[0]).toMatchObject({ action: 'noop', before: { clientName: null, permanent: false } });
  });

  it.each([
    ['key differs', { key: 'other' }],
    ['permanence differs', { flags: ['Permanent'] }],
    ['client name differs', { clientName: 'phone' }],
    ['key differs; permanence differs; client name differs', { key: 'other', flags: ['Permanent'], clientName: 'phone' }],
  ])('replaces (remove, then add) when %s', (reason, diff: { key?: string; flags?: string[]; clientName?: string }) => {
    const d = desiredState('/s', { clientAuth: [clientAuth(addr, k.privateKey)] });
    const have = entry(addr, diff.key ? other.privateKeyBase64 : k.privateKeyBase64, { flags: diff.flags ?? [], ...(diff.clientName ? { clientName: diff.clientName } : {}) });
    const p = computePlan(d, live({ clientAuth: [have] }), ctx);
    expect(p.changes).toEqual([
      {
        kind: 'client-auth',
        id: addr,
        action: 'replace',
        before: { address: addr, clientName: diff.clientName ?? null, permanent: !!diff.flags, privateKey: '<redacted>' },
        after: { address: addr, clientName: null, permanent: false, privateKey: '<redacted>' },
        reason,
        source: at,
      },
    ]);
    expect(p.steps.map((s) => s.display)).toEqual([`ONION_CLIENT_AUTH_REMOVE ${addr}`, `ONION_CLIENT_AUTH_ADD ${addr} x25519:<redacted>`]);
    expect(p.steps.map((s) => s.changes)).toEqual([[`client-auth:${addr}`], [`client-auth:${addr}`]]);
    expect(p.steps[0]).toMatchObject({ op: 'client-auth-remove', address: addr });
  });

  it('replaces when the spec adds a client name tor does not have', () => {
    const d = desiredState('/s', { clientAuth: [clientAuth(addr, k.privateKey, { clientName: 'laptop' })] });
    const p = computePlan(d, live({ clientAuth: [entry(addr, k.privateKeyBase64)] }), ctx);
    expect(p.changes[0]).toMatchObject({ action: 'replace', reason: 'client name differs' });
  });

  it('matches credentials to the spec by address, whatever the order tor lists them in', () => {
    const d = desiredState('/s', { clientAuth: [clientAuth(addr, k.privateKey), clientAuth(addr2, other.privateKey)] });
    const p = computePlan(d, live({ clientAuth: [entry(addr2, other.privateKeyBase64), entry(addr, k.privateKeyBase64)] }), ctx);
    expect(p.changes.map((c) => [c.id, c.action])).toEqual([
      [addr, 'noop'],
      [addr2, 'noop'],
    ]);
  });

  it('warns about credentials the spec does not declare, and leaves them alone without prune', () => {
    const p = computePlan(desiredState('/s', { clientAuth: [clientAuth(addr, k.privateKey)] }), live({ clientAuth: [entry(addr, k.privateKeyBase64), entry(addr2, other.privateKeyBase64), entry('e'.repeat(56), other.privateKeyBase64)] }), ctx);
    expect(p.steps).toEqual([]);
    expect(p.changes.map((c) => c.action)).toEqual(['noop']);
    expect(p.warnings).toEqual([{ item: 'client-auth:*', message: `tor holds client credentials the spec does not declare (left alone): ${addr2}, ${'e'.repeat(56)}` }]);
  });

  it('with prune, removes undeclared credentials before any add', () => {
    const d = desiredState('/s', { prune: true, clientAuth: [clientAuth(addr, k.privateKey)] });
    const p = computePlan(d, live({ clientAuth: [entry(addr2, other.privateKeyBase64, { clientName: 'old' }), entry('e'.repeat(56), other.privateKeyBase64)] }), ctx);
    expect(p.warnings).toEqual([]);
    expect(p.changes.filter((c) => c.action === 'delete')).toEqual([
      { kind: 'client-auth', id: addr2, action: 'delete', before: { address: addr2, clientName: 'old' }, after: null, reason: 'not in the spec (prune: true)' },
      { kind: 'client-auth', id: 'e'.repeat(56), action: 'delete', before: { address: 'e'.repeat(56), clientName: null }, after: null, reason: 'not in the spec (prune: true)' },
    ]);
    expect(p.steps.map((s) => s.display)).toEqual([`ONION_CLIENT_AUTH_REMOVE ${'e'.repeat(56)}`, `ONION_CLIENT_AUTH_REMOVE ${addr2}`, `ONION_CLIENT_AUTH_ADD ${addr} x25519:<redacted>`]);
    expect(p.steps[0]!.changes).toEqual([`client-auth:${'e'.repeat(56)}`]);
  });

  it('with prune and nothing undeclared, plans nothing', () => {
    const p = computePlan(desiredState('/s', { prune: true, clientAuth: [clientAuth(addr, k.privateKey)] }), live({ clientAuth: [entry(addr, k.privateKeyBase64)] }), ctx);
    expect(p.steps).toEqual([]);
    expect(p.changes.map((c) => c.action)).toEqual(['noop']);
  });

  it('leaves alone the credentials it was told to (declared or not), and plans the others', () => {
    const d = desiredState('/s', { prune: true, clientAuth: [clientAuth(addr, k.privateKey)] });
    const l = live({ clientAuth: [entry(addr, other.privateKeyBase64), entry(addr2, other.privateKeyBase64)] });
    const heldBoth = computePlan(d, l, { ...ctx, leaveAlone: new Set([`client-auth:${addr}`, `client-auth:${addr2}`]) });
    expect(heldBoth.changes).toEqual([]);
    expect(heldBoth.steps).toEqual([]);
    const heldOne = computePlan(d, l, { ...ctx, leaveAlone: new Set([`client-auth:${addr2}`]) });
    expect(heldOne.changes.map((c) => [c.id, c.action])).toEqual([[addr, 'replace']]);
    const heldUndeclaredNoPrune = computePlan({ ...d, prune: false }, l, { ...ctx, leaveAlone: new Set([`client-auth:${addr2}`]) });
    expect(heldUndeclaredNoPrune.warnings).toEqual([]);
  });
});
