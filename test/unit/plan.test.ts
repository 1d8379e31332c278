import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalPortLine, normalizeDirectory, parseServiceBlock } from '../../src/reconcile/hsblock.js';
import { recordKey } from '../../src/reconcile/local.js';
import { computePlan, isEmptyPlan, secretsDigest } from '../../src/reconcile/plan.js';
import { step } from '../../src/reconcile/steps.js';
import { StalePlanError } from '../../src/reconcile/errors.js';
import { checkSavedPlan, readPlanFile, savedSalt, writePlanFile } from '../../src/reconcile/saved.js';
import type { Plan, StepOf } from '../../src/reconcile/types.js';
import { generateClientAuthKeyPair } from '../../src/tor/onion/index.js';
import { Secret } from '../../src/tor/secret.js';
import { clientAuth, desiredState, ephService, fsService, liveState, planCtx } from '../helpers/desired.js';

const ctx = planCtx;
const live = liveState;

describe('HiddenService block', () => {
  it('parses groups in order and canonicalizes port lines', () => {
    const groups = parseServiceBlock([
      ['HiddenServiceDir', '/a'],
      ['HiddenServicePort', '80'],
      ['HiddenServicePort', '81 8081'],
      ['HiddenServiceMaxStreams', '5'],
      ['HiddenServiceDir', '/b/'],
      ['HiddenServicePort', '22 unix:/run/ssh.sock'],
    ]);
    expect(groups).toEqual([
      { directory: '/a', ports: ['80 127.0.0.1:80', '81 127.0.0.1:8081'], options: [['HiddenServiceMaxStreams', '5']] },
      { directory: '/b/', ports: ['22 unix:/run/ssh.sock'], options: [] },
    ]);
    expect(parseServiceBlock([['HiddenServiceOptions', null]])).toEqual([]);
  });

  it.each([
    ['80', '80 127.0.0.1:80'],
    ['080 8080', '80 127.0.0.1:8080'],
    ['80 [::1]:80', '80 [::1]:80'],
    [' 443  unix:/x ', '443 unix:/x'],
  ])('canonical port line %j → %j', (a, b) => expect(canonicalPortLine(a)).toBe(b));

  it('treats /a/ and /a as one directory', () => {
    expect(normalizeDirectory('/var/lib/tor/a/')).toBe(normalizeDirectory('/var/lib/tor/a'));
    expect(normalizeDirectory('/var//lib/./tor/a')).toBe('/var/lib/tor/a');
  });
});

describe('option plans', () => {
  it.each([
    ['in sync through the type (durations)', { MaxCircuitDirtiness: '10 minutes' }, { MaxCircuitDirtiness: ['600'] }, []],
    // Tor reads each back in its own text: a plan comparing text would rewrite them on every run.
    ['in sync: a float tor prints with six decimals', { CircuitPriorityHalflife: 0.5 }, { CircuitPriorityHalflife: ['0.500000'] }, []],
    ['in sync: the unknown country tor appends to a country list', { ExcludeNodes: '{cn}' }, { ExcludeNodes: ['{cn},{??}'] }, []],
    ['changed', { MaxCircuitDirtiness: '5 minutes' }, { MaxCircuitDirtiness: ['600'] }, ['SETCONF MaxCircuitDirtiness="300"']],
    ['router lists compare without spaces', { ExitNodes: ['{de}', '{ch}'] }, { ExitNodes: ['{de},{ch}'] }, []],
    ['reset when not default', { ContactInfo: null }, { ContactInfo: ['x'] }, ['RESETCONF ContactInfo']],
    ['no reset when already default', { ContactInfo: null }, { ContactInfo: [] }, []],
    ['line lists keep order', { SocksPort: ['9050', '9150'] }, { SocksPort: ['9150', '9050'] }, ['SETCONF SocksPort="9050" SocksPort="9150"']],
  ])('%s', (_, options, liveOptions, steps) => {
    const p = computePlan(desiredState('/s', { options }), live({ options: new Map(Object.entries(liveOptions)) }), ctx);
    expect(p.steps.map((s) => s.display)).toEqual(steps);
  });

  it('puts every change in one SETCONF and every reset in one RESETCONF, resets first', () => {
    const d = desiredState('/s', { options: { ContactInfo: null, Nickname: 'x', NumEntryGuards: 3, ExitNodes: null } });
    const p = computePlan(d, live({ options: new Map([['ContactInfo', ['a']], ['ExitNodes', ['{us}']], ['Nickname', ['y']], ['NumEntryGuards', ['1']]]) }), ctx);
    expect(p.steps.map((s) => s.display)).toEqual(['RESETCONF ContactInfo ExitNodes', 'SETCONF Nickname="x" NumEntryGuards="3"']);
    expect(p.summary).toMatchObject({ update: 2, delete: 2, commands: 2 });
  });

  it('never sends immutable options, and counts them as needing a restart', () => {
    const p = computePlan(desiredState('/s', { options: { User: 'debian-tor' } }), live({ options: new Map([['User', []]]) }), ctx);
    expect(p.steps).toEqual([]);
    expect(p.changes[0]).toMatchObject({ id: 'User', needsRestart: true });
    expect(p.summary.needsRestart).toBe(1);
    // Not "in sync": the restart is pending (plan --detailed-exitcode exits 2, apply 3).
    expect(p.restart).toBe('pending');
    expect(isEmptyPlan(p)).toBe(false);
  });

  it('on the embedded tor, a restart step comes last, with the start-up options of the spec', () => {
    const d = desiredState('/s', { options: { TokenBucketRefillInterval: 50, SocksPort: '127.0.0.1:9999', ContactInfo: 'x@example.org' } });
    d.tor = { launch: { dataDirectory: '/d', binary: 'tor', options: { DisableNetwork: ['1'], SocksPort: ['9050'] } } };
    const p = computePlan(d, live({ options: new Map([['TokenBucketRefillInterval', ['100']], ['SocksPort', ['127.0.0.1:9999']], ['ContactInfo', []]]) }), { ...ctx, embedded: true });
    expect(p.restart).toBe('apply');
    expect(p.steps.map((s) => s.op)).toEqual(['setconf', 'restart-tor']);
    expect(p.steps[1]).toMatchObject({ op: 'restart-tor', names: ['TokenBucketRefillInterval'], changes: ['option:TokenBucketRefillInterval'] });
    // The spec's listener replaces launch's; restart-only options are in; the rest is set over the control port.
    expect((p.steps[1] as StepOf<'restart-tor'>).options).toEqual({ DisableNetwork: ['1'], SocksPort: ['127.0.0.1:9999'], TokenBucketRefillInterval: ['50'] });
    expect(p.steps[1]!.display).toBe('restart the embedded tor (/d) to change TokenBucketRefillInterval; then apply the spec to it again');
    // Not the embedded tor (or no tor.launch): pending, no restart step.
    expect(computePlan(d, live({ options: new Map([['TokenBucketRefillInterval', ['100']]]) }), ctx).steps.map((s) => s.op)).toEqual(['setconf']);
  });

  it('knows each service address ahead when its key exists, null otherwise', () => {
    const d = desiredState('/s', { onionServices: [ephService('e', '/s', [[80, '127.0.0.1:80']]), ephService('n', '/s', [[80, '127.0.0.1:80']]), fsService('f', '/hs/f', [[80, '127.0.0.1:80']]), fsService('g', '/hs/g', [[80, '127.0.0.1:80']])] });
    const addr = 'a'.repeat(56);
    const fsAddr = 'b'.repeat(56);
    const p = computePlan(d, live({ ephemeralKeys: new Map([['e', { address: addr }], ['n', { missing: true }]]), serviceFiles: new Map([['/hs/f', { clients: new Map(), exists: true, hostname: fsAddr }]]) }), ctx);
    expect(p.addresses).toEqual([
      { name: 'e', type: 'ephemeral', address: addr },
      { name: 'n', type: 'ephemeral', address: null },
      { name: 'f', type: 'filesystem', address: fsAddr },
      { name: 'g', type: 'filesystem', address: null },
    ]);
  });

  it('redacts secret values in before, after and the command', () => {
    const d = desiredState('/s');
    d.options.push({ name: 'HashedControlPassword', value: [new Secret('16:ABCDEF')], immutable: false, source: { file: 'f', line: 1, col: 1 } });
    const p = computePlan(d, live({ options: new Map([['HashedControlPassword', ['16:OLD']]]) }), ctx);
    const text = JSON.stringify(p);
    expect(text).not.toContain('ABCDEF');
    expect(text).not.toContain('16:OLD');
    expect(p.steps[0]!.display).toBe('SETCONF HashedControlPassword=<redacted>');
  });
});

describe('filesystem service plans', () => {
  const a = fsService('a', '/hs/a', [[80, '127.0.0.1:8080']]);
  const b = fsService('b', '/hs/b', [[22, '127.0.0.1:22']]);
  const liveAB = live({
    services: [
      { directory: '/hs/a', ports: ['80 127.0.0.1:8080'], options: [] },
      { directory: '/hs/b/', ports: ['22 127.0.0.1:22'], options: [] },
    ],
    serviceFiles: new Map([
      ['/hs/a', { clients: new Map(), exists: true }],
      ['/hs/b', { clients: new Map(), exists: true }],
    ]),
  });

  it('is empty when the block matches (trailing slash ignored)', () => {
    expect(isEmptyPlan(computePlan(desiredState('/s', { onionServices: [a, b] }), liveAB, ctx))).toBe(true);
  });

  it('rewrites the whole block in one SETCONF, directories first, when one service changes order', () => {
    const p = computePlan(desiredState('/s', { onionServices: [b, a] }), liveAB, ctx);
    expect(p.steps.map((s) => s.op)).toEqual(['setconf']);
    expect(p.steps[0]!.display).toBe('SETCONF HiddenServiceDir="/hs/b" HiddenServicePort="22 127.0.0.1:22" HiddenServiceDir="/hs/a" HiddenServicePort="80 127.0.0.1:8080"');
  });

  it('creates missing directories before the SETCONF that names them', () => {
    const c = fsService('c', '/hs/c', [[443, 'unix:/run/x.sock']]);
    const p = computePlan(desiredState('/s', { onionServices: [a, b, c] }), liveAB, ctx);
    expect(p.steps.map((s) => s.op)).toEqual(['mkdir', 'setconf']);
    expect(p.changes.find((ch) => ch.id === 'c')!.action).toBe('create');
  });

  it('chowns directories to tor user when tor-reconcile runs as root, refuses otherwise', () => {
    const c = fsService('c', '/hs/c', [[443, '127.0.0.1:443']]);
    const asRoot = computePlan(desiredState('/s', { onionServices: [a, b, c] }), { ...liveAB, torUid: 108 }, ctx);
    expect(asRoot.steps[0]).toMatchObject({ op: 'mkdir', owner: { uid: 108 } });
    const asUser = computePlan(desiredState('/s', { onionServices: [a, b, c] }), { ...liveAB, torUid: 108 }, { ...ctx, uid: 1000 });
    expect(asUser.errors[0]!.message).toMatch(/uid 108/);
  });

  it('refuses to drop undeclared services, unless prune', () => {
    const p = computePlan(desiredState('/s', { onionServices: [{ ...a, ports: [{ port: 81, target: '127.0.0.1:81' }] }] }), liveAB, ctx);
    expect(p.errors.map((e) => e.message).join()).toContain('/hs/b/');
    const pruned = computePlan(desiredState('/s', { onionServices: [a], prune: true }), liveAB, ctx);
    expect(pruned.errors).toEqual([]);
    expect(pruned.changes.find((c) => c.action === 'delete')!.id).toBe('/hs/b');
    const none = computePlan(desiredState('/s', { prune: true }), liveAB, ctx);
    expect(none.steps.map((s) => s.display)).toEqual(['RESETCONF HiddenServiceDir']);
  });

  it('writes client files before the SETCONF, removes stale ones, and rewrites the block even if it is unchanged', () => {
    const k = generateClientAuthKeyPair();
    const withClient = { ...a, authorizedClients: [{ name: 'alice', publicKey: k.publicKey }] };
    const l = { ...liveAB, serviceFiles: new Map([...liveAB.serviceFiles, ['/hs/a', { clients: new Map([['old', 'descriptor:x25519:AAAA']]), exists: true }]]) };
    const p = computePlan(desiredState('/s', { onionServices: [withClient, b] }), l, ctx);
    expect(p.steps.map((s) => s.op)).toEqual(['mkdir', 'write-file', 'remove-file', 'setconf']);
  });

  it('fails loudly when a pinned address does not match the key', () => {
    const pinned = { ...a, address: 'x'.repeat(56) };
    const l = { ...liveAB, serviceFiles: new Map([...liveAB.serviceFiles, ['/hs/a', { clients: new Map(), exists: true, keyAddress: 'y'.repeat(56) }]]) };
    expect(computePlan(desiredState('/s', { onionServices: [pinned, b] }), l, ctx).errors[0]!.message).toMatch(/not the pinned/);
    const noKey = computePlan(desiredState('/s', { onionServices: [pinned, b] }), liveAB, ctx);
    expect(noKey.errors[0]!.message).toMatch(/holds no key/);
  });
});

describe('ephemeral service plans', () => {
  const addr = 'a'.repeat(56);
  const svc = ephService('api', '/s', [[80, '127.0.0.1:9000']]);

  it('generates the key first, then adds the service, when the key file is missing', () => {
    const p = computePlan(desiredState('/s', { onionServices: [svc] }), live({ ephemeralKeys: new Map([['api', { missing: true }]]) }), ctx);
    expect(p.steps.map((s) => s.op)).toEqual(['generate-key', 'add-onion', 'record-service']);
    expect(p.steps[1]!.display).toBe('ADD_ONION ED25519-V3:<redacted> Flags=Detach Port=80,127.0.0.1:9000');
  });

  it('records each added service in the state file, as a step of its own right after its ADD_ONION', () => {
    const other = ephService('web', '/s', [[443, 'unix:/run/web.sock']], { maxStreams: 7 });
    const p = computePlan(desiredState('/s', { onionServices: [svc, other] }), live({ ephemeralKeys: new Map([['api', { address: addr }], ['web', { missing: true }]]) }), ctx);
    expect(p.steps.map((s) => s.display)).toEqual([
      `generate key ${other.keyFile} (into the key store /s/keys/keystore.json, 0600; its directory made 0700 if missing)`,
      'ADD_ONION ED25519-V3:<redacted> Flags=Detach Port=80,127.0.0.1:9000',
      'record api in the state file',
      'ADD_ONION ED25519-V3:<redacted> Flags=Detach MaxStreams=7 Port=443,unix:/run/web.sock',
      'record web in the state file',
    ]);
    // Data, not text for apply to parse: the ports as given to ADD_ONION, the complete record but for what
    // only the apply knows (the address of a key it generates, and the digest of the key it sends).
    expect(p.steps[3]).toMatchObject({ op: 'add-onion', ports: [{ port: 443, target: 'unix:/run/web.sock' }], flags: ['Detach'], maxStreams: 7 });
    const rec = (p.steps[4] as StepOf<'record-service'>).record;
    expect(rec).toEqual({ target: '', spec: 'test.yaml', name: 'web', keyFile: other.keyFile, config: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(p.steps[4]!.changes).toEqual(['ephemeral-service:web']);
    expect(p.summary.commands).toBe(2);
  });

  it('is empty when the recorded configuration matches and the service runs', () => {
    const first = computePlan(desiredState('/s', { onionServices: [svc] }), live({ ephemeralKeys: new Map([['api', { address: addr }]]) }), ctx);
    const record = (first.steps[1] as StepOf<'record-service'>).record.config;
    const p = computePlan(
      desiredState('/s', { onionServices: [svc] }),
      live({ ephemeralKeys: new Map([['api', { address: addr }]]), detachedOnions: [addr], records: new Map([[recordKey('', 'test.yaml', 'api'), { target: '', spec: 'test.yaml', name: 'api', address: addr, keyFile: svc.keyFile, config: record }]]) }),
      ctx,
    );
    expect(isEmptyPlan(p)).toBe(true);
  });

  it('replaces (DEL then ADD, same key) when the configuration changed', () => {
    const p = computePlan(
      desiredState('/s', { onionServices: [svc] }),
      live({ ephemeralKeys: new Map([['api', { address: addr }]]), detachedOnions: [addr], records: new Map([[recordKey('', 'test.yaml', 'api'), { target: '', spec: 'test.yaml', name: 'api', address: addr, keyFile: svc.keyFile, config: 'old' }]]) }),
      ctx,
    );
    expect(p.steps.map((s) => s.op)).toEqual(['del-onion', 'add-onion', 'record-service']);
    expect(p.changes[0]!.action).toBe('replace');
  });

  it('deletes services it recorded but the spec dropped, keeping the key; never touches others without prune', () => {
    const foreign = 'b'.repeat(56);
    const p = computePlan(desiredState('/s'), live({ detachedOnions: [addr, foreign], records: new Map([[recordKey('', 'test.yaml', 'old'), { target: '', spec: 'test.yaml', name: 'old', address: addr, keyFile: '/s/keys/old.key', config: 'c' }]]) }), ctx);
    expect(p.steps.map((s) => s.display)).toEqual([`DEL_ONION ${addr}`, 'forget old in the state file']);
    expect(p.changes[0]!.reason).toContain('/s/keys/old.key');
    expect(p.warnings[0]!.message).toContain(foreign);
  });
});

describe('client auth plans', () => {
  it('adds missing credentials without putting the key in the plan', () => {
    const k = generateClientAuthKeyPair();
    const addr = 'c'.repeat(56);
    const p = computePlan(desiredState('/s', { clientAuth: [clientAuth(addr, k.privateKey, { permanent: true })] }), live(), ctx);
    expect(p.steps.map((s) => s.display)).toEqual([`ONION_CLIENT_AUTH_ADD ${addr} x25519:<redacted> Flags=Permanent`]);
    expect(JSON.stringify(p)).not.toContain(k.privateKeyBase64.reveal());
  });
});

describe('saved plans', () => {
  it('refuses a plan whose live fingerprint or steps changed', () => {
    const d = desiredState('/s', { options: { Nickname: 'a' } });
    const saved = JSON.parse(JSON.stringify(computePlan(d, live(), ctx)));
    const same = computePlan(d, live(), { ...ctx, salt: savedSalt(saved) });
    expect(() => checkSavedPlan(saved, same)).not.toThrow();
    expect(() => checkSavedPlan(saved, computePlan(d, live({ fingerprint: 'other' }), ctx))).toThrow(StalePlanError);
    // Nothing shown differs: the message says where else to look instead of blaming tor.
    expect(() => checkSavedPlan(saved, computePlan(d, live({ fingerprint: 'other' }), ctx))).toThrow(/tor's state or the files the plan checked \(who tor runs as; owners, modes and links/);
    const other = computePlan(desiredState('/s', { options: { Nickname: 'b' } }), live(), { ...ctx, salt: savedSalt(saved) });
    expect(() => checkSavedPlan(saved, other)).toThrow(/different steps/);
  });

  it('names what changed in tor, and says "already applied" when tor is already what the plan makes it', () => {
    const d = desiredState('/s', { options: { Nickname: 'a', ContactInfo: 'x' } });
    const saved = JSON.parse(JSON.stringify(computePlan(d, live(), ctx)));
    const moved = computePlan(d, live({ options: new Map([['Nickname', ['zz']]]), fingerprint: 'other' }), { ...ctx, salt: savedSalt(saved) });
    expect(() => checkSavedPlan(saved, moved)).toThrow("stale plan: tor's state changed since the plan was made (option Nickname); run plan again");
    const applied = computePlan(d, live({ options: new Map([['Nickname', ['a']], ['ContactInfo', ['x']]]), fingerprint: 'applied' }), { ...ctx, salt: savedSalt(saved) });
    expect(() => checkSavedPlan(saved, applied)).toThrow(/^already applied: tor already matches/);
  });

  it('notices a changed secret with the same redacted steps', () => {
    const mk = (v: string) => {
      const d = desiredState('/s');
      d.options.push({ name: 'HashedControlPassword', value: [new Secret(v)], immutable: false, source: { file: 'f', line: 1, col: 1 } });
      return d;
    };
    const saved = JSON.parse(JSON.stringify(computePlan(mk('16:A'), live(), ctx)));
    expect(JSON.stringify(saved)).not.toContain('16:A');
    const fresh = computePlan(mk('16:B'), live(), { ...ctx, salt: savedSalt(saved) });
    expect(() => checkSavedPlan(saved, fresh)).toThrow(/secret value/);
  });
});

describe('a saved plan with a file to write from a secret', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tr-plan-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A plan whose one step writes `value` (as an `${env:}` interpolation would give it), digested with `salt`. */
  function planWriting(value: string, salt: string): Plan {
    const steps = [step('write-file', { path: '/hs/a/authorized_clients/x.auth', content: new Secret(value), mode: 0o600, note: 'add client x' }, ['filesystem-service:a'])];
    return { ...computePlan(desiredState('/s'), live(), ctx), steps, secretsDigest: `${salt}:${secretsDigest(salt, steps)}` };
  }

  it('holds the value nowhere in the file, and the digest still notices when it changes', async () => {
    const file = path.join(dir, 'plan.json');
    await writePlanFile(file, planWriting('descriptor:x25519:FROMENVIRONMENT', 'salt1'));
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain('FROMENVIRONMENT');
    expect(text).toContain('"content": "<redacted>"');
    const saved = await readPlanFile(file);
    expect(() => checkSavedPlan(saved, planWriting('descriptor:x25519:FROMENVIRONMENT', savedSalt(saved)))).not.toThrow();
    expect(() => checkSavedPlan(saved, planWriting('descriptor:x25519:CHANGEDINENV', savedSalt(saved)))).toThrow(/secret value/);
  });

  it('is not saved without a digest', async () => {
    const { secretsDigest: _, ...unsalted } = planWriting('x', 'salt');
    await expect(writePlanFile(path.join(dir, 'no.json'), unsalted)).rejects.toThrow(/secrets digest/);
  });
});

describe('specs sharing a state directory', () => {
  it('leaves services recorded by another spec alone', () => {
    const addr = 'd'.repeat(56);
    const p = computePlan(desiredState('/s'), live({ detachedOnions: [addr], records: new Map([[recordKey('', '/other.yaml', 'api'), { target: '', spec: '/other.yaml', name: 'api', address: addr, keyFile: '/s/keys/api.key', config: 'c' }]]) }), ctx);
    expect(p.steps).toEqual([]);
    expect(p.warnings[0]!.message).toMatch(/another spec/);
  });
});

describe('records of several tors in one state directory', () => {
  const addr = 'd'.repeat(56);
  const svc = ephService('api', '/s', [[80, '127.0.0.1:9000']]);
  const recordOn = (target: string, config: string) => ({ target, spec: 'test.yaml', name: 'api', address: addr, keyFile: svc.keyFile, config });
  const config = (computePlan(desiredState('/s', { onionServices: [svc] }), live({ ephemeralKeys: new Map([['api', { address: addr }]]) }), ctx).steps[1] as StepOf<'record-service'>).record.config;

  it("never removes a service another tor's record names", () => {
    const other = recordOn('other', 'c');
    const p = computePlan(desiredState('/s'), live({ detachedOnions: [], records: new Map([[recordKey(other.target, other.spec, other.name), other]]) }), ctx);
    expect(p.steps).toEqual([]);
    expect(p.changes).toEqual([]);
  });

  it("does not take another tor's record for this tor's: the service is re-added and recorded here", () => {
    const other = recordOn('other', config);
    const p = computePlan(desiredState('/s', { onionServices: [svc] }), live({ ephemeralKeys: new Map([['api', { address: addr }]]), detachedOnions: [addr], records: new Map([[recordKey(other.target, other.spec, other.name), other]]) }), ctx);
    expect(p.changes[0]).toMatchObject({ action: 'replace', reason: expect.stringMatching(/without a record/) });
    expect((p.steps.at(-1) as StepOf<'record-service'>).record.target).toBe('');
  });

  it('keeps its records when the same tor is reached at another control address (--control, TCP for the socket)', () => {
    const mine = recordOn('', config);
    const records = new Map([[recordKey('', mine.spec, mine.name), mine]]);
    const p = computePlan(desiredState('/s', { onionServices: [svc] }), live({ ephemeralKeys: new Map([['api', { address: addr }]]), detachedOnions: [addr], records }), { ...ctx, target: 'tcp:127.0.0.1:9051' });
    expect(isEmptyPlan(p)).toBe(true);
  });

  it("a named target's records are its own (the fleet's targets share a state directory)", () => {
    const theirs = recordOn('eu-1', config);
    const records = new Map([[recordKey('eu-1', theirs.spec, theirs.name), theirs]]);
    const p = computePlan(desiredState('/s', { onionServices: [svc] }), live({ ephemeralKeys: new Map([['api', { address: addr }]]), detachedOnions: [addr], records }), { ...ctx, targetName: 'eu-2' });
    expect(p.changes[0]).toMatchObject({ action: 'replace', reason: expect.stringMatching(/without a record/) });
    expect((p.steps.at(-1) as StepOf<'record-service'>).record.target).toBe('eu-2');
  });

  it('takes a record from before records named their tor as the unnamed tor’s, and forgets it as it was keyed', () => {
    const legacy = recordOn('', config);
    const records = new Map([[recordKey('', legacy.spec, legacy.name), legacy]]);
    const inSync = computePlan(desiredState('/s', { onionServices: [svc] }), live({ ephemeralKeys: new Map([['api', { address: addr }]]), detachedOnions: [addr], records }), ctx);
    expect(isEmptyPlan(inSync)).toBe(true);
    const dropped = computePlan(desiredState('/s'), live({ detachedOnions: [addr], records }), ctx);
    expect(dropped.steps.map((st) => st.op)).toEqual(['del-onion', 'forget-record']);
    expect(dropped.steps[1]).toMatchObject({ target: '', spec: 'test.yaml', service: 'api' });
  });
});

describe('attach policies compiled to options', () => {
  const at = { file: 'test.yaml', line: 3, col: 3 };
  const policy = (extra: object) => ({ name: 'p', match: {}, action: 'circuit' as const, onFailure: 'tor' as const, deadlineMs: 15000, source: at, ...extra });

  it('one exit country for everything becomes ExitNodes + StrictNodes, applied by plan alone', () => {
    const d = desiredState('/s', { attach: { policies: [policy({ circuit: { exitCountries: ['ch'], isolate: 'none' } })], default: 'tor', source: at } });
    const p = computePlan(d, live({ options: new Map([['ExitNodes', []], ['StrictNodes', ['0']]]) }), ctx);
    expect(p.steps.map((s) => s.display)).toEqual(['SETCONF ExitNodes="{ch}" StrictNodes="1"']);
    // Only that, without persistence, the change lasts until tor restarts.
    expect(p.warnings.map((w) => w.item)).toEqual(['persist']);
    const synced = computePlan(d, live({ options: new Map([['ExitNodes', ['{ch}']], ['StrictNodes', ['1']]]) }), ctx);
    expect(isEmptyPlan(synced)).toBe(true);
  });

  it('per-host isolation becomes IsolateDestAddr on the managed SocksPort lines', () => {
    const d = desiredState('/s', { options: { SocksPort: ['9050', '9150 IsolateDestAddr'] }, attach: { policies: [policy({ circuit: { isolate: 'per-host' } })], default: 'tor', source: at } });
    const p = computePlan(d, live({ options: new Map([['SocksPort', ['9050']]]) }), ctx);
    expect(p.steps.map((s) => s.display)).toEqual(['SETCONF SocksPort="9050 IsolateDestAddr" SocksPort="9150 IsolateDestAddr"']);
  });

  it('conditions, pins and reject need watch, and the plan says so', () => {
    const d = desiredState('/s', { attach: { policies: [policy({ match: { hosts: ['*.bank.example'] }, circuit: { exitCountries: ['ch'], isolate: 'none' } })], default: 'tor', source: at } });
    const p = computePlan(d, live(), ctx);
    expect(p.steps).toEqual([]);
    expect(p.warnings.map((w) => w.message).join('\n')).toMatch(/enforced only while `tor-reconcile watch` runs/);
  });

  it('refuses a native policy fighting an option the spec also sets', () => {
    const d = desiredState('/s', { options: { ExitNodes: '{de}' }, attach: { policies: [policy({ circuit: { exitCountries: ['ch'], isolate: 'none' } })], default: 'tor', source: at } });
    expect(computePlan(d, live(), ctx).errors[0]!.message).toMatch(/sets ExitNodes, which options also sets/);
  });
});

describe('an ephemeral key file replaced by another key', () => {
  it('removes the service tor still runs under the old key and adds the new one', () => {
    const oldAddr = 'e'.repeat(56);
    const newAddr = 'f'.repeat(56);
    const svc = ephService('api', '/s', [[80, '127.0.0.1:9000']]);
    const p = computePlan(
      desiredState('/s', { onionServices: [svc] }),
      live({ ephemeralKeys: new Map([['api', { address: newAddr }]]), detachedOnions: [oldAddr], records: new Map([[recordKey('', 'test.yaml', 'api'), { target: '', spec: 'test.yaml', name: 'api', address: oldAddr, keyFile: svc.keyFile, config: 'c' }]]) }),
      ctx,
    );
    expect(p.steps.map((s) => s.op)).toEqual(['del-onion', 'add-onion', 'record-service']);
    expect(p.steps[0]!.display).toBe(`DEL_ONION ${oldAddr}`);
    expect(p.warnings).toEqual([]);
  });
});
