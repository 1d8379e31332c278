import { describe, expect, it } from 'vitest';
import { canonicalPortLine, normalizeDirectory, parsePortLine, parseServiceBlock, portLine } from '../../src/reconcile/hsblock.js';
import { computePlan } from '../../src/reconcile/plan.js';
import type { EphemeralRecord, LiveServiceFiles, LiveState, StepOf } from '../../src/reconcile/types.js';
import { recordKey } from '../../src/reconcile/local.js';
import type { EphemeralService } from '../../src/spec/model.js';
import { generateClientAuthKeyPair } from '../../src/tor/onion/index.js';
import { Secret } from '../../src/tor/secret.js';
import type { ClientAuthEntry } from '../../src/tor/replies.js';
import { clientAuth, desiredState, ephService, fsService, liveState, planCtx } from '../helpers/desired.js';

const ctx = planCtx;
const live = liveState;

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

describe('filesystem service plans (sections)', () => {
  const at = { file: 'test.yaml', line: 1, col: 1 };
  const a = fsService('a', '/hs/a', [[80, '127.0.0.1:8080']]);
  const b = fsService('b', '/hs/b', [[22, '127.0.0.1:22']]);
  const files = (extra: Partial<LiveServiceFiles> = {}): LiveServiceFiles => ({ clients: new Map(), exists: true, mode: 0o700, ...extra });
  const liveAB = (fa: Partial<LiveServiceFiles> = {}, fb: Partial<LiveServiceFiles> = {}, parts: Partial<LiveState> = {}) =>
    live({
      services: [
        { directory: '/hs/a', ports: ['80 127.0.0.1:8080'], options: [] },
        { directory: '/hs/b', ports: ['22 127.0.0.1:22'], options: [] },
      ],
      serviceFiles: new Map([
        ['/hs/a', files(fa)],
        ['/hs/b', files(fb)],
      ]),
      ...parts,
    });
  const setconfAB = 'SETCONF HiddenServiceDir="/hs/a" HiddenServicePort="80 127.0.0.1:8080" HiddenServiceDir="/hs/b" HiddenServicePort="22 127.0.0.1:22"';
  const alice = generateClientAuthKeyPair();
  const bob = generateClientAuthKeyPair();
  const line = (pub: string) => `descriptor:x25519:${pub}`;

  it('shows an in-sync service as it is in tor, its clients sorted by name', () => {
    const withClients = { ...a, authorizedClients: [{ name: 'bob', publicKey: bob.publicKey }, { name: 'alice', publicKey: alice.publicKey }] };
    const l = liveAB({ clients: new Map([['bob', line(bob.publicKey)], ['alice', line(alice.publicKey)]]) });
    const p = computePlan(desiredState('/s', { onionServices: [withClients, b] }), l, ctx);
    expect(p.steps).toEqual([]);
    expect(p.warnings).toEqual([]);
    expect(p.changes[0]).toEqual({
      kind: 'filesystem-service',
      id: 'a',
      action: 'noop',
      before: { directory: '/hs/a', ports: ['80 127.0.0.1:8080'], options: {}, authorizedClients: ['alice', 'bob'] },
      after: { directory: '/hs/a', ports: ['80 127.0.0.1:8080'], options: {}, authorizedClients: ['bob', 'alice'] },
      reason: 'in sync',
      source: at,
    });
  });

  it('without filesystem services and without prune, ignores the services tor has', () => {
    const p = computePlan(desiredState('/s'), liveAB(), ctx);
    expect(p).toMatchObject({ changes: [], steps: [], warnings: [], errors: [] });
  });

  it('warns, without an error, about undeclared services when nothing is rewritten', () => {
    const p = computePlan(desiredState('/s', { onionServices: [a] }), liveAB(), ctx);
    expect(p.steps).toEqual([]);
    expect(p.errors).toEqual([]);
    expect(p.warnings).toEqual([{ item: 'filesystem-service:*', message: 'tor has filesystem onion services the spec does not declare (left alone): /hs/b' }]);
  });

  it('refuses to rewrite the block over undeclared services, saying why', () => {
    const p = computePlan(desiredState('/s', { onionServices: [{ ...a, ports: [{ port: 81, target: '127.0.0.1:81' }] }] }), liveAB(), ctx);
    expect(p.errors).toEqual([
      {
        item: 'filesystem-service:*',
        message:
          'tor has filesystem onion services the spec does not declare: /hs/b. Tor replaces all of them whenever one changes, so applying would remove them. Declare them in the spec, or set prune: true to remove them.',
      },
    ]);
    expect(p.warnings.filter((w) => w.item.startsWith('filesystem-service'))).toEqual([]);
  });

  it('with prune, deletes undeclared services (keeping their keys) in the rewritten block', () => {
    const p = computePlan(desiredState('/s', { onionServices: [a], prune: true }), liveAB(), ctx);
    expect(p.changes).toEqual([
      expect.objectContaining({ id: 'a', action: 'noop' }),
      { kind: 'filesystem-service', id: '/hs/b', action: 'delete', before: { directory: '/hs/b', ports: ['22 127.0.0.1:22'], options: {} }, after: null, reason: 'not in the spec (prune: true); its key files stay on disk' },
    ]);
    expect(p.steps.map((s) => s.display)).toEqual(['SETCONF HiddenServiceDir="/hs/a" HiddenServicePort="80 127.0.0.1:8080"']);
    expect(p.steps[0]!.changes).toEqual(['filesystem-service:/hs/b']);
  });

  it('holds back the whole block when any filesystem service is left alone, but not for other items', () => {
    const d = desiredState('/s', { onionServices: [{ ...a, ports: [{ port: 81, target: '127.0.0.1:81' }] }, b] });
    const heldP = computePlan(d, liveAB(), { ...ctx, leaveAlone: new Set(['filesystem-service:b']) });
    expect(heldP.changes).toEqual([]);
    expect(heldP.steps).toEqual([]);
    const other = computePlan(d, liveAB(), { ...ctx, leaveAlone: new Set(['option:Nickname']) });
    expect(other.changes.map((c) => [c.id, c.action])).toEqual([
      ['a', 'update'],
      ['b', 'noop'],
    ]);
  });

  it.each([
    ['ports differ', { ...a, ports: [{ port: 81, target: '127.0.0.1:81' }] }],
    ['options differ', { ...a, options: [['HiddenServiceMaxStreams', '5']] as Array<[string, string]> }],
  ])('updates with the reason "%s", naming the change in the SETCONF', (reason, changed) => {
    const p = computePlan(desiredState('/s', { onionServices: [changed, b] }), liveAB(), ctx);
    expect(p.changes[0]).toMatchObject({ id: 'a', action: 'update', reason, before: { directory: '/hs/a', ports: ['80 127.0.0.1:8080'], options: {}, authorizedClients: [] } });
    expect(p.changes[1]).toMatchObject({ id: 'b', action: 'noop' });
    expect(p.steps.map((s) => s.op)).toEqual(['setconf']);
    expect(p.steps[0]!.changes).toEqual(['filesystem-service:a']);
  });

  it('names the positions a reordered service moves between (1-based)', () => {
    const p = computePlan(desiredState('/s', { onionServices: [b, a] }), liveAB(), ctx);
    expect(p.changes.map((c) => [c.id, c.reason])).toEqual([
      ['b', 'moves from position 2 to 1'],
      ['a', 'moves from position 1 to 2'],
    ]);
  });

  it('counts positions among the services kept, so adding one in front moves none', () => {
    const c = fsService('c', '/hs/c', [[443, '127.0.0.1:443']]);
    const p = computePlan(desiredState('/s', { onionServices: [c, a, b] }), liveAB(), ctx);
    expect(p.changes.map((ch) => [ch.id, ch.action, ch.reason])).toEqual([
      ['c', 'create', 'new service'],
      ['a', 'noop', 'in sync'],
      ['b', 'noop', 'in sync'],
    ]);
    expect(p.changes[0]).toMatchObject({ before: null });
    expect(p.steps.map((s) => s.display)).toEqual(['mkdir -m 0700 /hs/c', expect.stringMatching(/^SETCONF HiddenServiceDir="\/hs\/c"/)]);
  });

  it('counts positions among the services kept, so dropping one in front moves none', () => {
    const p = computePlan(desiredState('/s', { onionServices: [b], prune: true }), liveAB(), ctx);
    expect(p.changes.map((ch) => [ch.id, ch.action, ch.reason])).toEqual([
      ['b', 'noop', 'in sync'],
      ['/hs/a', 'delete', 'not in the spec (prune: true); its key files stay on disk'],
    ]);
  });

  it('gives no owner to the client files it removes', () => {
    const withAlice = { ...a, authorizedClients: [{ name: 'alice', publicKey: alice.publicKey }] };
    const p = computePlan(desiredState('/s', { onionServices: [withAlice, b] }), liveAB({ clients: new Map([['dave', line(bob.publicKey)]]) }, {}, { torUid: 108 }), ctx);
    expect(p.steps.map((s) => s.op)).toEqual(['mkdir', 'write-file', 'remove-file', 'setconf']);
    expect(p.steps[1]).toMatchObject({ owner: { uid: 108, gid: -1 } });
    expect(p.steps[2]).not.toHaveProperty('owner');
  });

  it('tightens a directory too open for tor, and rewrites the block', () => {
    const p = computePlan(desiredState('/s', { onionServices: [a, b] }), liveAB({ mode: 0o755 }), ctx);
    expect(p.changes[0]).toMatchObject({ id: 'a', action: 'update', reason: 'directory mode 755 is too open for tor' });
    expect(p.steps[0]).toMatchObject({ op: 'chmod', path: '/hs/a', mode: 0o700, from: { mode: 0o755 }, changes: ['filesystem-service:a'] });
    expect(p.steps.map((s) => s.display)).toEqual(['chmod 0700 /hs/a (now 0755; tor refuses a service directory others can read)', setconfAB]);
  });

  it('lets a group read the directory only with HiddenServiceDirGroupReadable 1', () => {
    const groupReadable = { ...a, options: [['HiddenServiceDirGroupReadable', '1']] as Array<[string, string]> };
    const liveGR = (mode: number) => ({ ...liveAB({ mode }), services: [{ directory: '/hs/a', ports: ['80 127.0.0.1:8080'], options: [['HiddenServiceDirGroupReadable', '1']] as Array<[string, string]> }, liveAB().services[1]!] });
    expect(computePlan(desiredState('/s', { onionServices: [groupReadable, b] }), liveGR(0o750), ctx).steps).toEqual([]);
    expect(computePlan(desiredState('/s', { onionServices: [groupReadable, b] }), liveGR(0o770), ctx).changes[0]!.reason).toBe('directory mode 770 is too open for tor');
    const off = { ...a, options: [['HiddenServiceDirGroupReadable', '0']] as Array<[string, string]> };
    const liveOff = { ...liveAB({ mode: 0o750 }), services: [{ directory: '/hs/a', ports: ['80 127.0.0.1:8080'], options: [['HiddenServiceDirGroupReadable', '0']] as Array<[string, string]> }, liveAB().services[1]!] };
    expect(computePlan(desiredState('/s', { onionServices: [off, b] }), liveOff, ctx).changes[0]!.reason).toBe('directory mode 750 is too open for tor');
    const otherOption = { ...a, options: [['HiddenServiceMaxStreams', '1']] as Array<[string, string]> };
    const liveOther = { ...liveAB({ mode: 0o750 }), services: [{ directory: '/hs/a', ports: ['80 127.0.0.1:8080'], options: [['HiddenServiceMaxStreams', '1']] as Array<[string, string]> }, liveAB().services[1]!] };
    expect(computePlan(desiredState('/s', { onionServices: [otherOption, b] }), liveOther, ctx).changes[0]!.reason).toBe('directory mode 750 is too open for tor');
  });

  it('adds, rotates and removes client files, keeping those whose key is unchanged', () => {
    const carol = generateClientAuthKeyPair();
    const withClients = { ...a, authorizedClients: [{ name: 'alice', publicKey: alice.publicKey }, { name: 'bob', publicKey: bob.publicKey }, { name: 'carol', publicKey: carol.publicKey }] };
    // alice unchanged (the file may differ in text but not in key), bob rotated, carol new, dave gone.
    const l = liveAB({ clients: new Map([['alice', line(alice.publicKey)], ['bob', line(alice.publicKey)], ['dave', line(bob.publicKey)]]) });
    const p = computePlan(desiredState('/s', { onionServices: [withClients, b] }), l, ctx);
    expect(p.changes[0]).toMatchObject({ id: 'a', action: 'update', reason: 'authorized clients differ' });
    expect(p.steps.map((s) => s.display)).toEqual([
      'mkdir -m 0700 /hs/a/authorized_clients',
      'write /hs/a/authorized_clients/bob.auth (rotate client bob) mode 0600',
      'write /hs/a/authorized_clients/carol.auth (add client carol) mode 0600',
      'remove /hs/a/authorized_clients/dave.auth (client dave no longer authorized)',
      setconfAB,
    ]);
    const write = p.steps[2] as StepOf<'write-file'>;
    expect(write).toMatchObject({ op: 'write-file', mode: 0o600, changes: ['filesystem-service:a'] });
    expect(String(write.content instanceof Secret ? write.content.reveal() : write.content)).toBe(`${line(carol.publicKey)}\n`);
    expect(p.steps[3]).toMatchObject({ op: 'remove-file', path: '/hs/a/authorized_clients/dave.auth', changes: ['filesystem-service:a'] });
  });

  it('rewrites a client file it cannot parse', () => {
    const withAlice = { ...a, authorizedClients: [{ name: 'alice', publicKey: alice.publicKey }] };
    const p = computePlan(desiredState('/s', { onionServices: [withAlice, b] }), liveAB({ clients: new Map([['alice', 'garbage']]) }), ctx);
    expect(p.steps.map((s) => s.display)).toContain('write /hs/a/authorized_clients/alice.auth (rotate client alice) mode 0600');
  });

  it('only removing clients needs no authorized_clients directory', () => {
    const p = computePlan(desiredState('/s', { onionServices: [a, b] }), liveAB({ clients: new Map([['dave', line(bob.publicKey)]]) }), ctx);
    expect(p.steps.map((s) => s.op)).toEqual(['remove-file', 'setconf']);
  });

  it("as root, gives tor's user the directories and the client files it writes", () => {
    const c = { ...fsService('c', '/hs/c', [[443, '127.0.0.1:443']]), authorizedClients: [{ name: 'alice', publicKey: alice.publicKey }] };
    const p = computePlan(desiredState('/s', { onionServices: [a, b, c] }), liveAB({}, {}, { torUid: 108 }), ctx);
    const owner = { uid: 108, gid: -1 };
    expect(p.steps.map((s) => s.op)).toEqual(['mkdir', 'mkdir', 'write-file', 'setconf']);
    expect(p.steps[0]).toMatchObject({ path: '/hs/c', owner });
    expect(p.steps[1]).toMatchObject({ path: '/hs/c/authorized_clients', owner });
    expect(p.steps[2]).toMatchObject({ path: '/hs/c/authorized_clients/alice.auth', owner });
    // Every effect on disk is in the plan: the chown too, not only in the step's data.
    expect(p.steps.slice(0, 3).map((st) => st.display)).toEqual([
      'mkdir -m 0700 /hs/c, owner 108:',
      'mkdir -m 0700 /hs/c/authorized_clients, owner 108:',
      'write /hs/c/authorized_clients/alice.auth (add client alice) mode 0600, owner 108:',
    ]);
    const same = computePlan(desiredState('/s', { onionServices: [a, b, c] }), liveAB(), ctx);
    for (const s of same.steps) expect(s).not.toHaveProperty('owner');
  });

  it('refuses a path that is not a directory', () => {
    const p = computePlan(desiredState('/s', { onionServices: [a, b] }), liveAB({ notDirectory: true }), ctx);
    expect(p.errors).toEqual([{ item: 'filesystem-service:a', message: '/hs/a exists and is not a directory; a service directory is needed there', source: at }]);
  });

  describe('a pinned address', () => {
    const x = 'x'.repeat(56);
    const pinned = { ...a, address: x };
    it('refuses an unreadable key', () => {
      const p = computePlan(desiredState('/s', { onionServices: [pinned, b] }), liveAB({ keyError: 'bad key file' }), ctx);
      expect(p.errors).toEqual([{ item: 'filesystem-service:a', message: `bad key file; tor would replace it with a new key and a new address (pinned ${x})`, source: at }]);
    });
    it('refuses a missing or other key', () => {
      expect(computePlan(desiredState('/s', { onionServices: [pinned, b] }), liveAB(), ctx).errors).toEqual([
        { item: 'filesystem-service:a', message: `address pinned to ${x} but /hs/a holds no key: tor would generate another address; import the key first (tor-reconcile keys import)`, source: at },
      ]);
      const y = 'y'.repeat(56);
      expect(computePlan(desiredState('/s', { onionServices: [pinned, b] }), liveAB({ keyAddress: y }), ctx).errors).toEqual([{ item: 'filesystem-service:a', message: `the key in /hs/a is for ${y}, not the pinned ${x}`, source: at }]);
    });
    it('accepts the matching key, warning only when the hostname file disagrees', () => {
      const ok = computePlan(desiredState('/s', { onionServices: [pinned, b] }), liveAB({ keyAddress: x, hostname: x }), ctx);
      expect(ok).toMatchObject({ errors: [], warnings: [], steps: [] });
      expect(computePlan(desiredState('/s', { onionServices: [pinned, b] }), liveAB({ keyAddress: x }), ctx).warnings).toEqual([]);
      const y = 'y'.repeat(56);
      const stale = computePlan(desiredState('/s', { onionServices: [pinned, b] }), liveAB({ keyAddress: x, hostname: y }), ctx);
      expect(stale.errors).toEqual([]);
      expect(stale.warnings).toEqual([{ item: 'filesystem-service:a', message: `/hs/a/hostname says ${y} but the key is for ${x}; tor rewrites hostname from the key`, source: at }]);
    });
  });
});

describe('HiddenService block (sections)', () => {
  it('ignores the bare HiddenServiceOptions line, and reads other valueless lines as empty', () => {
    expect(
      parseServiceBlock([
        ['HiddenServiceDir', '/a'],
        ['HiddenServiceOptions', null],
        ['HiddenServiceMaxStreams', null],
        ['HiddenServicePort', null],
        ['HiddenServiceDir', null],
      ]),
    ).toEqual([
      { directory: '/a', ports: [''], options: [['HiddenServiceMaxStreams', '']] },
      { directory: '', ports: [], options: [] },
    ]);
  });

  it('drops group lines that come before any HiddenServiceDir', () => {
    expect(parseServiceBlock([['HiddenServicePort', '80'], ['HiddenServiceMaxStreams', '5'], ['HiddenServiceDir', '/a']])).toEqual([{ directory: '/a', ports: [], options: [] }]);
  });

  it.each([
    ['80 10.0.0.5:8080', '80 10.0.0.5:8080'],
    ['80 8080', '80 127.0.0.1:8080'],
    ['x80', 'x80'],
    ['  not a port  ', 'not a port'],
  ])('canonical port line %j → %j', (a, b) => expect(canonicalPortLine(a)).toBe(b));

  it('parses a canonical port line back to the port and target portLine wrote', () => {
    const spec = { port: 443, target: 'unix:/run/with space.sock' };
    expect(parsePortLine(portLine(spec))).toEqual(spec);
    expect(parsePortLine('80 127.0.0.1:8080')).toEqual({ port: 80, target: '127.0.0.1:8080' });
  });

  it.each([
    ['/', '/'],
    ['//', '/'],
    ['', ''],
    ['/var/lib/tor/a//', '/var/lib/tor/a'],
    ['hs/a/', 'hs/a'],
    ['hs/a//', 'hs/a'],
    ['hs/./a', 'hs/./a'],
  ])('normalizes directory %j → %j', (a, b) => expect(normalizeDirectory(a)).toBe(b));
});

describe('option plans (sections)', () => {
  const at = { file: 'test.yaml', line: 1, col: 1 };
  const opts = (o: Record<string, string[]>) => live({ options: new Map(Object.entries(o)) });

  it('shows a single value as itself and a list as a list, with the reason the value changes', () => {
    const p = computePlan(desiredState('/s', { options: { SocksPort: ['9050', '9150'], Nickname: 'new', ContactInfo: 'me' } }), opts({ SocksPort: ['9050'], Nickname: ['old'], ContactInfo: [] }), ctx);
    expect(p.changes).toEqual([
      { kind: 'option', id: 'SocksPort', source: at, action: 'update', before: '9050', after: ['9050', '9150'], reason: 'value differs' },
      { kind: 'option', id: 'Nickname', source: at, action: 'update', before: 'old', after: 'new', reason: 'value differs' },
      { kind: 'option', id: 'ContactInfo', source: at, action: 'update', before: [], after: 'me', reason: 'not set' },
    ]);
    expect(p.steps).toHaveLength(1);
    expect(p.steps[0]!.changes).toEqual(['option:SocksPort', 'option:Nickname', 'option:ContactInfo']);
  });

  it('says why an option is left as it is', () => {
    const p = computePlan(desiredState('/s', { options: { ContactInfo: null, Nickname: 'same' } }), opts({ Nickname: ['same'] }), ctx);
    expect(p.changes).toEqual([
      { kind: 'option', id: 'ContactInfo', source: at, action: 'noop', before: [], after: [], reason: 'already at its default' },
      { kind: 'option', id: 'Nickname', source: at, action: 'noop', before: 'same', after: 'same', reason: 'in sync' },
    ]);
  });

  it('resets to the default, showing it, and names the reset in the RESETCONF', () => {
    const p = computePlan(desiredState('/s', { options: { ContactInfo: null } }), opts({ ContactInfo: ['x'] }), ctx);
    expect(p.changes).toEqual([{ kind: 'option', id: 'ContactInfo', source: at, action: 'delete', before: 'x', after: [], reason: 'reset to default' }]);
    expect(p.steps.map((s) => [s.display, s.changes])).toEqual([['RESETCONF ContactInfo', ['option:ContactInfo']]]);
  });

  it('does not send a reset of an immutable option: it needs a restart', () => {
    const p = computePlan(desiredState('/s', { options: { User: null } }), opts({ User: ['debian-tor'] }), ctx);
    expect(p.steps).toEqual([]);
    expect(p.changes[0]).toMatchObject({ id: 'User', action: 'delete', needsRestart: true });
    const changed = computePlan(desiredState('/s', { options: { User: 'tor' } }), opts({ User: ['debian-tor'] }), ctx);
    expect(changed.changes[0]).toMatchObject({ action: 'update', reason: "tor can't change User while running: restart tor with the new value", needsRestart: true });
  });

  it('refuses an option this tor does not know', () => {
    const d = desiredState('/s');
    d.options.push({ name: 'NoSuchOption', value: ['1'], immutable: false, source: at });
    const p = computePlan(d, live(), ctx);
    expect(p.errors).toEqual([{ item: 'option:NoSuchOption', message: 'tor 0.4.9.11 does not know the option NoSuchOption', source: at }]);
    expect(p.steps).toEqual([]);
  });

  it('leaves alone an option it was told to, and plans the others', () => {
    const p = computePlan(desiredState('/s', { options: { Nickname: 'new', ContactInfo: 'me' } }), opts({ Nickname: ['old'] }), { ...ctx, leaveAlone: new Set(['option:Nickname']) });
    expect(p.changes.map((c) => c.id)).toEqual(['ContactInfo']);
    expect(p.steps.map((s) => s.display)).toEqual(['SETCONF ContactInfo="me"']);
  });

  it('redacts a password option written in plain text, in the change and in the command', () => {
    const d = desiredState('/s');
    d.options.push({ name: 'HashedControlPassword', value: ['16:PLAINTEXT'], immutable: false, source: at });
    const p = computePlan(d, opts({ HashedControlPassword: ['16:OLD'] }), ctx);
    expect(p.changes[0]).toMatchObject({ before: '<redacted>', after: '<redacted>' });
    expect(p.steps[0]!.display).toBe('SETCONF HashedControlPassword=<redacted>');
    expect(JSON.stringify(p)).not.toMatch(/PLAINTEXT|16:OLD/);
    const reset = computePlan(desiredState('/s', { options: { HashedControlPassword: null } }), opts({ HashedControlPassword: ['16:OLD'] }), ctx);
    expect(reset.changes[0]).toMatchObject({ action: 'delete', before: '<redacted>', after: '<redacted>' });
  });

  it('redacts an ordinary option whose value comes from a secret', () => {
    const d = desiredState('/s');
    d.options.push({ name: 'ContactInfo', value: [new Secret('hidden@example.org')], immutable: false, source: at });
    const p = computePlan(d, opts({ ContactInfo: ['old@example.org'] }), ctx);
    expect(p.changes[0]).toMatchObject({ before: '<redacted>', after: '<redacted>' });
    expect(JSON.stringify(p)).not.toContain('example.org');
  });

  it('attaches the attach section as the source of its warnings, and names the conflicting option', () => {
    const src = { file: 'test.yaml', line: 3, col: 3 };
    const policy = { name: 'p', match: { hosts: ['*.bank.example'] }, action: 'circuit' as const, onFailure: 'tor' as const, deadlineMs: 15000, source: src, circuit: { exitCountries: ['ch'], isolate: 'none' as const } };
    const p = computePlan(desiredState('/s', { attach: { policies: [policy], default: 'tor', source: src } }), live(), ctx);
    expect(p.warnings.filter((w) => w.item === 'attach')).toEqual([
      { item: 'attach', message: 'policy "p" matches only some streams', source: src },
      { item: 'attach', message: 'attach policies p are enforced only while `tor-reconcile watch` runs', source: src },
    ]);
    const native = { ...policy, match: {} };
    const conflict = computePlan(desiredState('/s', { options: { ExitNodes: '{de}' }, attach: { policies: [native], default: 'tor', source: src } }), live(), ctx);
    expect(conflict.errors).toEqual([{ item: 'option:ExitNodes', message: 'attach policy at test.yaml:3 sets ExitNodes, which options also sets; keep one', source: at }]);
  });
});

describe('option plans: an empty list', () => {
  it('sets a list option to nothing with a bare SETCONF', () => {
    const p = computePlan(desiredState('/s', { options: { SocksPort: [] } }), live({ options: new Map([['SocksPort', ['9050']]]) }), ctx);
    expect(p.changes[0]).toMatchObject({ id: 'SocksPort', action: 'update', before: '9050', after: [] });
    expect(p.steps.map((s) => s.display)).toEqual(['SETCONF SocksPort']);
  });
});

describe('ephemeral service plans (sections)', () => {
  const addr = 'a'.repeat(56);
  const old = 'b'.repeat(56);
  const foreign = 'f'.repeat(56);
  const svc = ephService('api', '/s', [[80, '127.0.0.1:9000']]);
  const shownAfter = (address: string) => ({ address, ports: ['80 127.0.0.1:9000'], flags: ['Detach'], clientAuthV3: [], keyFile: svc.keyFile });
  const rec = (name: string, address: string, config: string, extra: Partial<EphemeralRecord> = {}): EphemeralRecord => ({ target: '', spec: 'test.yaml', name, address, keyFile: `/s/keys/${name}.key`, config, ...extra });
  const records = (...rs: EphemeralRecord[]) => new Map(rs.map((r) => [recordKey(r.target, r.spec, r.name), r]));
  const configOf = (s: EphemeralService) => (computePlan(desiredState('/s', { onionServices: [s] }), live({ ephemeralKeys: new Map([[s.name, { address: addr }]]) }), ctx).steps[1] as StepOf<'record-service'>).record.config;

  it('creates a service whose key is missing: generate, add, record, all named for the service', () => {
    const p = computePlan(desiredState('/s', { onionServices: [svc] }), live(), ctx);
    expect(p.changes).toEqual([
      { kind: 'ephemeral-service', id: 'api', source: svc.source, action: 'create', before: null, after: shownAfter('(known after apply)'), reason: 'new service; a key is generated and saved before use' },
    ]);
    expect(p.steps[0]).toMatchObject({ op: 'generate-key', service: 'api', path: svc.keyFile });
    expect(p.steps.map((s) => s.changes)).toEqual([['ephemeral-service:api'], ['ephemeral-service:api'], ['ephemeral-service:api']]);
  });

  it('re-adds a service tor does not run, saying whether it was recorded', () => {
    const fresh = computePlan(desiredState('/s', { onionServices: [svc] }), live({ ephemeralKeys: new Map([['api', { address: addr }]]) }), ctx);
    expect(fresh.changes).toEqual([{ kind: 'ephemeral-service', id: 'api', source: svc.source, action: 'create', before: null, after: shownAfter(addr), reason: 'new service' }]);
    expect(fresh.steps.map((s) => s.op)).toEqual(['add-onion', 'record-service']);
    const restarted = computePlan(desiredState('/s', { onionServices: [svc] }), live({ ephemeralKeys: new Map([['api', { address: addr }]]), records: records(rec('api', addr, configOf(svc))) }), ctx);
    expect(restarted.changes[0]).toMatchObject({ action: 'create', reason: 'not running in tor (tor restarted?); restored with its key' });
  });

  it('shows an in-sync service the same before and after', () => {
    const p = computePlan(desiredState('/s', { onionServices: [svc] }), live({ ephemeralKeys: new Map([['api', { address: addr }]]), detachedOnions: [addr], records: records(rec('api', addr, configOf(svc))) }), ctx);
    expect(p.changes).toEqual([{ kind: 'ephemeral-service', id: 'api', source: svc.source, action: 'noop', before: shownAfter(addr), after: shownAfter(addr), reason: 'in sync' }]);
  });

  it('replaces a changed configuration: DEL_ONION of the service, then ADD_ONION', () => {
    const p = computePlan(desiredState('/s', { onionServices: [svc] }), live({ ephemeralKeys: new Map([['api', { address: addr }]]), detachedOnions: [addr], records: records(rec('api', addr, 'old')) }), ctx);
    expect(p.changes).toEqual([{ kind: 'ephemeral-service', id: 'api', source: svc.source, action: 'replace', before: { address: addr }, after: shownAfter(addr), reason: 'configuration changed (same key, same address)' }]);
    expect(p.steps[0]).toMatchObject({ op: 'del-onion', serviceId: addr, service: 'api', changes: ['ephemeral-service:api'] });
  });

  it('plans a service object once: re-plans share its configuration, frozen, and show its fields in order', () => {
    const capped = ephService('api', '/s', [[80, '127.0.0.1:9000']], { maxStreams: 3 });
    for (const s of [svc, capped]) {
      const desired = desiredState('/s', { onionServices: [s] });
      const state = live({ ephemeralKeys: new Map([['api', { address: addr }]]) });
      const [first, again] = [computePlan(desired, state, ctx), computePlan(desired, state, ctx)];
      expect(again).toEqual(first);
      const after = first.changes[0]!.after as unknown as Record<string, unknown>;
      // Plans are shown and saved as JSON: the order of the fields is part of what a user reads.
      expect(Object.keys(after)).toEqual(['address', 'ports', 'flags', ...(s.maxStreams !== undefined ? ['maxStreams'] : []), 'clientAuthV3', 'keyFile']);
      expect((again.changes[0]!.after as unknown as Record<string, unknown>).ports).toBe(after.ports);
      // A view that changed one plan in place would change every later plan of the service: it throws instead.
      expect(() => (after.ports as string[]).push('81 127.0.0.1:9001')).toThrow(TypeError);
    }
  });

  it('puts MaxStreamsCloseCircuit, MaxStreams and the authorized clients (V3Auth, sorted keys) in ADD_ONION and its digest', () => {
    const k1 = generateClientAuthKeyPair();
    const k2 = generateClientAuthKeyPair();
    const full = ephService('api', '/s', [[80, '127.0.0.1:9000']], { maxStreamsCloseCircuit: true, maxStreams: 3, authorizedClients: [{ name: 'x', publicKey: k1.publicKey.toLowerCase() }, { name: 'y', publicKey: k2.publicKey }] });
    const p = computePlan(desiredState('/s', { onionServices: [full] }), live({ ephemeralKeys: new Map([['api', { address: addr }]]) }), ctx);
    const keys = [k1.publicKey.toUpperCase(), k2.publicKey.toUpperCase()].sort();
    expect(p.steps[0]).toMatchObject({ op: 'add-onion', flags: ['Detach', 'MaxStreamsCloseCircuit', 'V3Auth'], maxStreams: 3, clientAuthV3: keys });
    expect(p.changes[0]).toMatchObject({ after: { flags: ['Detach', 'MaxStreamsCloseCircuit', 'V3Auth'], maxStreams: 3, clientAuthV3: keys } });
    expect(configOf(full)).not.toBe(configOf(svc));
    expect(configOf({ ...svc, maxStreamsCloseCircuit: true })).not.toBe(configOf(svc));
    expect(configOf({ ...svc, maxStreams: 3 })).not.toBe(configOf(svc));
    expect(computePlan(desiredState('/s', { onionServices: [svc] }), live({ ephemeralKeys: new Map([['api', { address: addr }]]) }), ctx).steps[0]).not.toHaveProperty('maxStreams');
  });

  it('refuses a key file it cannot read, and pinned addresses the key does not give', () => {
    const at = svc.source;
    const unreadable = computePlan(desiredState('/s', { onionServices: [svc] }), live({ ephemeralKeys: new Map([['api', { error: 'bad key' }]]) }), ctx);
    expect(unreadable.errors).toEqual([{ item: 'ephemeral-service:api', message: 'bad key; refusing to replace it (it may be the only copy of an address)', source: at }]);
    expect(unreadable.steps).toEqual([]);
    const pinned = { ...svc, address: addr };
    const missing = computePlan(desiredState('/s', { onionServices: [pinned] }), live(), ctx);
    expect(missing.errors).toEqual([{ item: 'ephemeral-service:api', message: `address pinned to ${addr} but the key file ${svc.keyFile} does not exist; a generated key would give another address`, source: at }]);
    expect(missing.steps).toEqual([]);
    const other = computePlan(desiredState('/s', { onionServices: [pinned] }), live({ ephemeralKeys: new Map([['api', { address: old }]]) }), ctx);
    expect(other.errors).toEqual([{ item: 'ephemeral-service:api', message: `the key in ${svc.keyFile} is for ${old}, not the pinned ${addr}`, source: at }]);
    expect(other.steps).toEqual([]);
    const ok = computePlan(desiredState('/s', { onionServices: [pinned] }), live({ ephemeralKeys: new Map([['api', { address: addr }]]) }), ctx);
    expect(ok.errors).toEqual([]);
    expect(ok.steps.map((s) => s.op)).toEqual(['add-onion', 'record-service']);
  });

  it('a held service is left alone, and its addresses (key and record) are still not unmanaged', () => {
    const l = live({ ephemeralKeys: new Map([['api', { address: addr }]]), detachedOnions: [addr, old], records: records(rec('api', old, 'c')) });
    const p = computePlan(desiredState('/s', { onionServices: [svc], prune: true }), l, { ...ctx, leaveAlone: new Set(['ephemeral-service:api']) });
    expect(p.changes).toEqual([]);
    expect(p.steps).toEqual([]);
    expect(p.warnings).toEqual([]);
  });

  it('removes a recorded service the spec dropped: DEL_ONION only if it runs, and forgets its record', () => {
    const running = computePlan(desiredState('/s'), live({ detachedOnions: [old], records: records(rec('old', old, 'c')) }), ctx);
    expect(running.changes).toEqual([{ kind: 'ephemeral-service', id: 'old', action: 'delete', before: { address: old }, after: null, reason: 'removed from the spec; its key stays in /s/keys/old.key' }]);
    expect(running.steps.map((s) => s.changes)).toEqual([['ephemeral-service:old'], ['ephemeral-service:old']]);
    const stopped = computePlan(desiredState('/s'), live({ records: records(rec('old', old, 'c')) }), ctx);
    expect(stopped.steps.map((s) => s.display)).toEqual(['forget old in the state file']);
    const held = computePlan(desiredState('/s'), live({ detachedOnions: [old], records: records(rec('old', old, 'c')) }), { ...ctx, leaveAlone: new Set(['ephemeral-service:old']) });
    expect(held).toMatchObject({ changes: [], steps: [], warnings: [] });
  });

  it("warns about another spec's running service (naming its spec files), and is silent when it does not run", () => {
    const theirs = rec('api', old, 'c', { spec: '/a.yaml\n/b.yaml' });
    const p = computePlan(desiredState('/s'), live({ detachedOnions: [old], records: records(theirs) }), ctx);
    expect(p.warnings).toEqual([{ item: 'ephemeral-service:api', message: `${old} belongs to another spec sharing this state directory (/a.yaml, /b.yaml); left alone` }]);
    expect(computePlan(desiredState('/s'), live({ records: records(theirs) }), ctx).warnings).toEqual([]);
  });

  it('a named target treats a record from before records named their tor as its own', () => {
    const p = computePlan(desiredState('/s'), live({ detachedOnions: [old], records: records(rec('old', old, 'c')) }), { ...ctx, targetName: 'eu-1' });
    expect(p.steps.map((s) => s.op)).toEqual(['del-onion', 'forget-record']);
    expect(p.steps[1]).toMatchObject({ target: '', spec: 'test.yaml', service: 'old' });
  });

  it('unmanaged detached services: warned about, deleted with prune, or left alone when held', () => {
    const warn = computePlan(desiredState('/s'), live({ detachedOnions: [foreign, old] }), ctx);
    expect(warn.warnings).toEqual([{ item: 'ephemeral-service:*', message: `tor runs detached onion services tor-reconcile does not hold keys for (left alone): ${foreign}, ${old}` }]);
    expect(warn.steps).toEqual([]);
    const pruned = computePlan(desiredState('/s', { prune: true }), live({ detachedOnions: [foreign] }), ctx);
    expect(pruned.changes).toEqual([{ kind: 'ephemeral-service', id: foreign, action: 'delete', before: { address: foreign }, after: null, reason: 'detached service not in the spec (prune: true)' }]);
    expect(pruned.steps).toHaveLength(1);
    expect(pruned.steps[0]).toMatchObject({ op: 'del-onion', serviceId: foreign, changes: [`ephemeral-service:${foreign}`] });
    expect(pruned.steps[0]).not.toHaveProperty('service');
    expect(pruned.warnings).toEqual([]);
    const held = computePlan(desiredState('/s', { prune: true }), live({ detachedOnions: [foreign] }), { ...ctx, leaveAlone: new Set([`ephemeral-service:${foreign}`]) });
    expect(held).toMatchObject({ changes: [], steps: [], warnings: [] });
  });
});
