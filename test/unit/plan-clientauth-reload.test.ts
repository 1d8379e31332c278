import { describe, expect, it } from 'vitest';
import { computePlan } from '../../src/reconcile/plan.js';
import type { StepOf } from '../../src/reconcile/types.js';
import { generateClientAuthKeyPair } from '../../src/tor/onion/index.js';
import type { ClientAuthEntry } from '../../src/tor/replies.js';
import { Secret } from '../../src/tor/secret.js';
import { clientAuth, desiredState, fsService, liveState, planCtx } from '../helpers/desired.js';

// Tor forgets credentials added without Permanent at every SETCONF/RESETCONF (plan-clientauth-reload.ts).
describe('client credentials across the plan’s own SETCONF/RESETCONF', () => {
  const k = generateClientAuthKeyPair();
  const theirs = generateClientAuthKeyPair();
  const addr = 'c'.repeat(56);
  const addr2 = 'd'.repeat(56);
  const entry = (address: string, key: Secret<string>, extra: Partial<ClientAuthEntry> = {}): ClientAuthEntry => ({ address, keyType: 'x25519', privateKey: new Secret(key.reveal().replace(/=+$/, '')), flags: [], ...extra });
  const inSync = liveState({ clientAuth: [entry(addr, k.privateKeyBase64, { clientName: 'laptop' })] });
  const cred = clientAuth(addr, k.privateKey, { clientName: 'laptop' });
  const ops = (p: { steps: Array<{ op: string }> }) => p.steps.map((s) => s.op);

  it('adds an in-sync non-permanent credential again after a SETCONF, as an update that says why', () => {
    const p = computePlan(desiredState('/s', { options: { ContactInfo: 'a@b' }, clientAuth: [cred] }), inSync, planCtx);
    expect(ops(p)).toEqual(['setconf', 'client-auth-add']);
    const change = p.changes.find((c) => c.kind === 'client-auth')!;
    expect(change).toMatchObject({ action: 'update', before: { address: addr, clientName: 'laptop', permanent: false, privateKey: '<redacted>' }, after: { address: addr, clientName: 'laptop', permanent: false, privateKey: '<redacted>' } });
    expect(change.reason).toBe("tor forgets credentials added without Permanent at every SETCONF/RESETCONF (it reloads them from ClientOnionAuthDir): added again after this plan's SETCONF");
    expect(p.steps[1]).toMatchObject({ op: 'client-auth-add', address: addr, clientName: 'laptop', permanent: false, changes: [`client-auth:${addr}`] });
    expect((p.steps[1] as StepOf<'client-auth-add'>).privateKey.reveal()).toBe(k.privateKeyBase64.reveal());
    expect(p.summary).toMatchObject({ update: 2, commands: 2 });
  });

  it('does the same after a RESETCONF alone, and names it', () => {
    const l = liveState({ ...inSync, options: new Map([['ContactInfo', ['x']]]) });
    const p = computePlan(desiredState('/s', { options: { ContactInfo: null }, clientAuth: [cred] }), l, planCtx);
    expect(ops(p)).toEqual(['resetconf', 'client-auth-add']);
    expect(p.changes.find((c) => c.kind === 'client-auth')!.reason).toMatch(/after this plan's RESETCONF$/);
  });

  it("after a filesystem service's SETCONF of the HiddenService block too", () => {
    const d = desiredState('/s', { onionServices: [fsService('a', '/hs/a', [[80, '127.0.0.1:80']])], clientAuth: [cred] });
    const p = computePlan(d, inSync, planCtx);
    expect(ops(p).at(-1)).toBe('client-auth-add');
    expect(ops(p)).toContain('setconf');
  });

  it('plans nothing for it without a SETCONF or RESETCONF', () => {
    const p = computePlan(desiredState('/s', { clientAuth: [cred] }), inSync, planCtx);
    expect(p.steps).toEqual([]);
    expect(p.changes).toMatchObject([{ kind: 'client-auth', action: 'noop', reason: 'in sync' }]);
  });

  it('leaves a permanent credential to its file, unless the plan moves ClientOnionAuthDir', () => {
    const perm = clientAuth(addr, k.privateKey, { clientName: 'laptop', permanent: true });
    const l = liveState({ clientAuth: [entry(addr, k.privateKeyBase64, { clientName: 'laptop', flags: ['Permanent'] })], options: new Map([['ClientOnionAuthDir', ['/old']]]) });
    const stays = computePlan(desiredState('/s', { options: { ContactInfo: 'a@b' }, clientAuth: [perm] }), l, planCtx);
    expect(ops(stays)).toEqual(['setconf']);
    const moved = computePlan(desiredState('/s', { options: { ClientOnionAuthDir: '/new' }, clientAuth: [perm] }), l, planCtx);
    expect(ops(moved)).toEqual(['setconf', 'client-auth-add']);
    expect(moved.changes.find((c) => c.kind === 'client-auth')!.reason).toBe('this plan changes ClientOnionAuthDir, from which tor reloads its permanent credentials: added again after its SETCONF');
    const reset = computePlan(desiredState('/s', { options: { ClientOnionAuthDir: null }, clientAuth: [perm] }), l, planCtx);
    expect(ops(reset)).toEqual(['resetconf', 'client-auth-add']);
  });

  it('adds a credential it creates or replaces once, after the SETCONF', () => {
    const missing = computePlan(desiredState('/s', { options: { ContactInfo: 'a@b' }, clientAuth: [cred] }), liveState(), planCtx);
    expect(ops(missing)).toEqual(['setconf', 'client-auth-add']);
    expect(missing.changes.find((c) => c.kind === 'client-auth')!.action).toBe('create');
    const stale = computePlan(desiredState('/s', { options: { ContactInfo: 'a@b' }, clientAuth: [cred] }), liveState({ clientAuth: [entry(addr, theirs.privateKeyBase64, { clientName: 'laptop' })] }), planCtx);
    expect(ops(stale)).toEqual(['setconf', 'client-auth-remove', 'client-auth-add']);
  });

  it('adds again, as tor holds them, the credentials it leaves alone: undeclared ones, and held ones', () => {
    const l = liveState({ clientAuth: [entry(addr, theirs.privateKeyBase64, { clientName: 'other' }), entry(addr2, theirs.privateKeyBase64, { flags: ['Permanent'] })] });
    const d = desiredState('/s', { options: { ContactInfo: 'a@b' } });
    const p = computePlan(d, l, planCtx);
    // The permanent one comes back from its file.
    expect(ops(p)).toEqual(['setconf', 'client-auth-add']);
    expect(p.steps[1]).toMatchObject({ address: addr, clientName: 'other', permanent: false });
    expect((p.steps[1] as StepOf<'client-auth-add'>).privateKey.reveal()).toBe(theirs.privateKeyBase64.reveal().replace(/=+$/, ''));
    expect(p.changes.find((c) => c.id === addr)!.reason).toMatch(/^not in the spec \(left alone\); tor forgets/);
    expect(p.warnings.filter((w) => w.item === 'client-auth:*')).toHaveLength(1);
    const held = computePlan(desiredState('/s', { options: { ContactInfo: 'a@b' }, clientAuth: [cred] }), l, { ...planCtx, leaveAlone: new Set([`client-auth:${addr}`]) });
    expect(ops(held)).toEqual(['setconf', 'client-auth-add']);
    expect(held.steps[1]).toMatchObject({ address: addr, clientName: 'other' });
    expect(held.changes.find((c) => c.id === addr)!.reason).toMatch(/^left as it is \(another controller keeps changing it\); tor forgets/);
    const heldUndeclared = computePlan(d, l, { ...planCtx, leaveAlone: new Set([`client-auth:${addr}`]) });
    expect(heldUndeclared.steps[1]).toMatchObject({ address: addr });
    expect(heldUndeclared.warnings.filter((w) => w.item === 'client-auth:*').map((w) => w.message)).toEqual([`tor holds client credentials the spec does not declare (left alone): ${addr2}`]);
  });

  it('with prune, removes undeclared credentials without adding them again', () => {
    const l = liveState({ clientAuth: [entry(addr2, theirs.privateKeyBase64)] });
    const p = computePlan(desiredState('/s', { prune: true, options: { ContactInfo: 'a@b' } }), l, planCtx);
    expect(ops(p)).toEqual(['setconf', 'client-auth-remove']);
  });
});
