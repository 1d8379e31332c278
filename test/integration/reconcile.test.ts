import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { applyPlan } from '../../src/reconcile/apply.js';
import { resolveDesired } from '../../src/reconcile/desired.js';
import { KEY_STORE_FILE } from '../../src/reconcile/keystore.js';
import { readLiveState } from '../../src/reconcile/live.js';
import { loadKeyFile } from '../../src/reconcile/local.js';
import { computePlan, isEmptyPlan, type PlanContext } from '../../src/reconcile/plan.js';
import { reconcileOnce } from '../../src/reconcile/reconcile.js';
import type { DesiredState } from '../../src/spec/model.js';
import { OptionTable } from '../../src/tor/config/types.js';
import { generateClientAuthKeyPair } from '../../src/tor/onion/index.js';
import type { TorClient } from '../../src/tor/client.js';
import { clientAuth, desiredState, ephService, fsService } from '../helpers/desired.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';

const READ_ONLY = new Set(['GETINFO', 'GETCONF', 'ONION_CLIENT_AUTH_VIEW', 'SETEVENTS', 'PROTOCOLINFO', 'AUTHCHALLENGE', 'AUTHENTICATE']);

let tor: TestTor;
let work: string;
let ctx: PlanContext;

async function plan(d: DesiredState, client: TorClient = tor.client) {
  return computePlan(d, await readLiveState(client, d), ctx);
}

/** Plan and apply, counting the mutating commands actually sent. */
async function converge(d: DesiredState, client: TorClient = tor.client) {
  const sent: string[] = [];
  const off = client.connection.onCommand((c) => {
    if (!READ_ONLY.has(c.keyword)) sent.push(c.display);
  });
  const p = await plan(d, client);
  const { result } = await reconcileOnce(client, resolveDesired(d), ctx, { plan: p });
  off();
  return { plan: p, result, sent };
}

beforeAll(async () => {
  tor = await startTestTor();
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-rec-'));
  ctx = { table: OptionTable.bundled(), target: 'test', uid: process.getuid!(), salt: 'fixed' };
});
afterAll(async () => {
  await tor?.cleanup();
  await rm(work, { recursive: true, force: true });
});

describe('options', () => {
  it('sets all changed options in one SETCONF, then plans empty and sends nothing', async () => {
    const d = desiredState(work, { options: { ContactInfo: 'ops@example.org', MaxCircuitDirtiness: '10 minutes', NumEntryGuards: 2, ClientUseIPv6: true } });
    const first = await converge(d);
    expect(first.result.ok).toBe(true);
    expect(first.sent).toHaveLength(1);
    expect(first.sent[0]).toMatch(/^SETCONF /);
    const conf = await tor.client.getConf(['MaxCircuitDirtiness', 'ContactInfo']);
    expect(conf.get('MaxCircuitDirtiness')).toEqual(['600']);
    const second = await converge(d);
    expect(isEmptyPlan(second.plan)).toBe(true);
    expect(second.sent).toEqual([]);
  });

  it('resets null options with one RESETCONF', async () => {
    await tor.client.setConf({ ContactInfo: 'someone', NumEntryGuards: '3' });
    const d = desiredState(work, { options: { ContactInfo: null, NumEntryGuards: null } });
    const { sent, result } = await converge(d);
    expect(result.ok).toBe(true);
    expect(sent).toEqual(['RESETCONF ContactInfo NumEntryGuards']);
    expect((await converge(d)).sent).toEqual([]);
  });

  it('reports immutable options as needing a restart and never sends them', async () => {
    const d = desiredState(work, { options: { DataDirectory: '/elsewhere', ContactInfo: 'x@y' } });
    const { plan: p, sent } = await converge(d);
    const change = p.changes.find((c) => c.id === 'DataDirectory')!;
    expect(change.needsRestart).toBe(true);
    expect(sent.join('\n')).not.toContain('DataDirectory');
  });

  it('applies nothing when tor refuses a value, and shows tor reason', async () => {
    const before = await tor.client.getConf(['ContactInfo', 'ConnLimit']);
    const d = desiredState(work, { options: { ContactInfo: 'changed@example.org', ConnLimit: 5 } });
    const p = await plan(d);
    const result = await applyPlan(tor.client, p, { hide: d });
    expect(result.ok).toBe(false);
    const failed = result.results.find((r) => r.status === 'failed')!;
    expect(failed.error).toMatch(/553|513/);
    expect(await tor.client.getConf(['ContactInfo', 'ConnLimit'])).toEqual(before);
  });
});

describe('filesystem onion services', () => {
  let dirs: string[];
  beforeEach(async () => {
    await tor.client.resetConf(['HiddenServiceDir']);
    const base = await mkdtemp(path.join(work, 'hs-'));
    dirs = ['a', 'b', 'c'].map((n) => path.join(base, n));
  });

  const three = () => [fsService('a', dirs[0]!, [[80, '127.0.0.1:8080']]), fsService('b', dirs[1]!, [[22, '127.0.0.1:22']]), fsService('c', dirs[2]!, [[443, 'unix:/run/web.sock']])];

  it('creates services with their directories, in order, in one SETCONF', async () => {
    const d = desiredState(work, { onionServices: three() });
    const { sent, result } = await converge(d);
    expect(result.ok).toBe(true);
    expect(sent.filter((s) => s.startsWith('SETCONF'))).toHaveLength(1);
    for (const dir of dirs) expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const entries = await tor.client.getConfEntries(['HiddenServiceOptions']);
    expect(entries.filter(([k]) => k === 'HiddenServiceDir').map(([, v]) => v)).toEqual(dirs);
    expect((await converge(d)).sent).toEqual([]);
  });

  it('reorders, adds a port to the middle one, removes one with prune', async () => {
    await converge(desiredState(work, { onionServices: three() }));
    const [a, b, c] = three();
    const reordered = desiredState(work, { onionServices: [c!, a!, b!] });
    const r1 = await converge(reordered);
    expect(r1.plan.changes.filter((ch) => ch.action === 'update').map((ch) => ch.id).sort()).toEqual(['a', 'b', 'c']);
    expect((await tor.client.getConfEntries(['HiddenServiceOptions'])).filter(([k]) => k === 'HiddenServiceDir').map(([, v]) => v)).toEqual([dirs[2], dirs[0], dirs[1]]);

    a!.ports.push({ port: 81, target: '127.0.0.1:8081' });
    const r2 = await converge(desiredState(work, { onionServices: [c!, a!, b!] }));
    expect(r2.plan.changes.filter((ch) => ch.action !== 'noop').map((ch) => [ch.id, ch.reason])).toEqual([['a', 'ports differ']]);
    expect((await tor.client.getConfEntries(['HiddenServicePort'])).map(([, v]) => v)).toContain('81 127.0.0.1:8081');

    const withoutB = desiredState(work, { onionServices: [c!, a!] });
    const refused = await plan(withoutB);
    // b is now unmanaged; nothing else changes, so nothing forces a rewrite: only a warning.
    expect(refused.errors).toEqual([]);
    expect(refused.warnings[0]!.message).toContain(dirs[1]);
    const pruned = await converge({ ...withoutB, prune: true });
    expect(pruned.result.ok).toBe(true);
    expect((await tor.client.getConfEntries(['HiddenServiceOptions'])).filter(([k]) => k === 'HiddenServiceDir').map(([, v]) => v)).toEqual([dirs[2], dirs[0]]);
  });

  it('refuses to rewrite the block over services the spec does not declare', async () => {
    const other = path.join(work, 'someone-elses');
    await mkdir(other, { mode: 0o700, recursive: true });
    await tor.client.setConf([['HiddenServiceDir', other], ['HiddenServicePort', '80']]);
    const d = desiredState(work, { onionServices: [fsService('a', dirs[0]!, [[80, '127.0.0.1:8080']])] });
    const p = await plan(d);
    expect(p.errors).toHaveLength(1);
    expect(p.errors[0]!.message).toContain(other);
    expect(p.errors[0]!.message).toMatch(/prune: true/);
    await expect(applyPlan(tor.client, p, { hide: d })).rejects.toThrow(/blocking/);
    expect((await tor.client.getConfEntries(['HiddenServiceDir'])).map(([, v]) => v)).toEqual([other]);
  });

  it('tightens a service directory others can read, which tor would refuse', async () => {
    await mkdir(dirs[0]!, { mode: 0o755, recursive: true });
    const { result, plan: p } = await converge(desiredState(work, { onionServices: [fsService('a', dirs[0]!, [[80, '127.0.0.1:8080']])] }));
    expect(p.steps.map((s) => s.display)).toContain(`chmod 0700 ${dirs[0]} (now 0755; tor refuses a service directory others can read)`);
    expect(result.ok).toBe(true);
    expect((await stat(dirs[0]!)).mode & 0o777).toBe(0o700);
  });

  it('reports tor real reason (from its WARN log) when it refuses a service', async () => {
    // Tor itself answers only "513 … Failed to configure rendezvous options. See logs for details."
    const svc = fsService('a', dirs[0]!, [[80, '127.0.0.1:8080']], { options: [['HiddenServiceNumIntroductionPoints', '1']] });
    const { result } = await converge(desiredState(work, { onionServices: [svc] }));
    expect(result.ok).toBe(false);
    const failed = result.results.find((r) => r.status === 'failed')!;
    expect(failed.error).toMatch(/513/);
    expect(failed.torWarnings?.join('\n')).toMatch(/HiddenServiceNumIntroductionPoints/);
  });

  it('refuses a plan when a file stands where a service directory should be', async () => {
    await mkdir(path.dirname(dirs[0]!), { recursive: true });
    await writeFile(dirs[0]!, 'not a directory');
    const p = await plan(desiredState(work, { onionServices: [fsService('a', dirs[0]!, [[80, '127.0.0.1:8080']])] }));
    expect(p.errors[0]!.message).toBe(`${dirs[0]} exists and is not a directory; a service directory is needed there`);
  });

  it('manages authorized_clients files exactly and re-sends the block so tor re-reads them', async () => {
    const alice = generateClientAuthKeyPair();
    const bob = generateClientAuthKeyPair();
    const svc = fsService('a', dirs[0]!, [[80, '127.0.0.1:8080']], { authorizedClients: [{ name: 'alice', publicKey: alice.publicKey }] });
    expect((await converge(desiredState(work, { onionServices: [svc] }))).result.ok).toBe(true);
    const authDir = path.join(dirs[0]!, 'authorized_clients');
    expect((await readFile(path.join(authDir, 'alice.auth'), 'utf8')).trim()).toBe(`descriptor:x25519:${alice.publicKey}`);
    expect((await converge(desiredState(work, { onionServices: [svc] }))).sent).toEqual([]);

    const rotated = { ...svc, authorizedClients: [{ name: 'bob', publicKey: bob.publicKey }] };
    const { sent, result } = await converge(desiredState(work, { onionServices: [rotated] }));
    expect(result.ok).toBe(true);
    expect(sent.some((s) => s.startsWith('SETCONF HiddenServiceDir'))).toBe(true);
    await expect(stat(path.join(authDir, 'alice.auth'))).rejects.toThrow();
    expect((await stat(path.join(authDir, 'bob.auth'))).mode & 0o777).toBe(0o600);
  });
});

describe('ephemeral onion services', () => {
  it('generates and persists the key before use, restores the same address after a tor restart', async () => {
    const state = await mkdtemp(path.join(work, 'state-'));
    const svc = ephService('api', state, [[80, '127.0.0.1:9000']]);
    const d = desiredState(state, { onionServices: [svc] });
    const first = await converge(d);
    expect(first.result.ok).toBe(true);
    const key = await loadKeyFile(svc.keyFile);
    // Kept in the key store of its directory (0600), with no file of its own.
    expect((await stat(path.join(path.dirname(svc.keyFile), KEY_STORE_FILE))).mode & 0o777).toBe(0o600);
    await expect(stat(svc.keyFile)).rejects.toThrow(/ENOENT/);
    expect(await tor.client.getInfo('onions/detached')).toContain(key.address);
    expect((await converge(d)).sent).toEqual([]);

    // Ports change: same key, same address, DEL then ADD.
    const changed = desiredState(state, { onionServices: [{ ...svc, ports: [{ port: 80, target: '127.0.0.1:9001' }] }] });
    const r = await converge(changed);
    expect(r.plan.changes.find((c) => c.id === 'api')!.action).toBe('replace');
    expect(r.sent.map((s) => s.split(' ')[0])).toEqual(['DEL_ONION', 'ADD_ONION']);
    expect(await tor.client.getInfo('onions/detached')).toContain(key.address);

    // A fresh tor has no ephemeral services: apply restores it with the same key.
    const other = await startTestTor();
    try {
      const restored = await converge(changed, other.client);
      expect(restored.result.ok).toBe(true);
      expect(await other.client.getInfo('onions/detached')).toContain(key.address);
    } finally {
      await other.cleanup();
    }
  });

  it('leaves unmanaged detached services alone unless prune', async () => {
    const state = await mkdtemp(path.join(work, 'state-'));
    const foreign = await tor.client.addOnion({ key: 'NEW:ED25519-V3', ports: [{ port: 80 }], flags: ['Detach', 'DiscardPK'] });
    const d = desiredState(state, {});
    const p = await plan(d);
    expect(p.warnings.map((w) => w.message).join()).toContain(foreign.serviceId);
    expect(p.steps).toEqual([]);
    const pruned = await converge({ ...d, prune: true });
    expect(pruned.sent).toContain(`DEL_ONION ${foreign.serviceId}`);
  });

  it('records each service tor accepted, and none it refused, in the same pipelined batch', async () => {
    const state = await mkdtemp(path.join(work, 'state-'));
    const good = ephService('good', state, [[80, '127.0.0.1:9000']]);
    // Tor refuses an out-of-range target port when it parses the command.
    const bad = ephService('bad', state, [[80, '127.0.0.1:99999']]);
    const d = desiredState(state, { onionServices: [good, bad] });
    const { result, plan: p } = await converge(d);
    expect(p.steps.map((s) => s.op)).toEqual(['generate-key', 'generate-key', 'add-onion', 'record-service', 'add-onion', 'record-service']);
    expect(result.ok).toBe(false);
    expect(result.results.map((r) => `${r.step.op}:${r.status}`)).toEqual(['generate-key:done', 'generate-key:done', 'add-onion:done', 'record-service:done', 'add-onion:failed', 'record-service:skipped']);
    const file = JSON.parse(await readFile(path.join(state, 'state.json'), 'utf8')) as { format_version: number; ephemeral: Array<{ name: string; target: string; address: string }> };
    expect(file.format_version).toBe(3);
    expect(file.ephemeral.map((r) => [r.name, r.target, r.address])).toEqual([['good', '', (await loadKeyFile(good.keyFile)).address]]);
  });

  it('writes each ADD_ONION only once its key is durable, while later keys are still being made (issue #16)', async () => {
    const state = await mkdtemp(path.join(work, 'state-'));
    const n = 200;
    const services = Array.from({ length: n }, (_, i) => ephService(`s${i}`, state, [[80, '127.0.0.1:9000']]));
    const store = path.join(state, 'keys', KEY_STORE_FILE);
    // At the moment each ADD_ONION is written: how many keys the store on disk holds, and whether it holds this one.
    const seen: Array<{ stored: number; has: boolean }> = [];
    const off = tor.client.connection.onCommand((c) => {
      if (c.keyword !== 'ADD_ONION') return;
      const blob = /^ADD_ONION (ED25519-V3:\S+)/.exec(c.wire)![1]!;
      const keys = Object.values((JSON.parse(readFileSync(store, 'utf8')) as { keys: Record<string, string> }).keys);
      seen.push({ stored: keys.length, has: keys.some((k) => k.trim() === blob) });
    });
    try {
      const { result } = await converge(desiredState(state, { onionServices: services }));
      expect(result.ok).toBe(true);
      // Reported in the plan's order whatever ran alongside what.
      expect(result.results.map((r) => r.step.op)).toEqual([...Array(n).fill('generate-key'), ...Array.from({ length: n }, () => ['add-onion', 'record-service']).flat()]);
    } finally {
      off();
    }
    expect(seen).toHaveLength(n);
    expect(seen.every((x) => x.has)).toBe(true);
    // Overlapped: tor heard of the first services before the last keys existed.
    expect(seen[0]!.stored).toBeLessThan(n);
    const detached = await tor.client.getInfo('onions/detached');
    for (const svc of [services[0]!, services[n - 1]!]) expect(detached).toContain((await loadKeyFile(svc.keyFile)).address);
  });

  it('replaces a record from before records named their tor (state format 2) when it re-adds the service', async () => {
    const state = await mkdtemp(path.join(work, 'state-'));
    const svc = ephService('old', state, [[80, '127.0.0.1:9000']]);
    const d = desiredState(state, { onionServices: [svc] });
    expect((await converge(d)).result.ok).toBe(true);
    const v3 = JSON.parse(await readFile(path.join(state, 'state.json'), 'utf8')) as { ephemeral: Array<Record<string, unknown>> };
    const { target: _, ...v2record } = v3.ephemeral[0]!;
    await writeFile(path.join(state, 'state.json'), JSON.stringify({ format_version: 2, ephemeral: [{ ...v2record, config: 'older configuration' }] }));
    const again = await converge(d);
    expect(again.plan.changes[0]).toMatchObject({ action: 'replace', reason: expect.stringMatching(/configuration changed/) });
    expect(again.result.ok).toBe(true);
    const rewritten = JSON.parse(await readFile(path.join(state, 'state.json'), 'utf8')) as { format_version: number; ephemeral: Array<Record<string, unknown>> };
    expect(rewritten).toEqual({ format_version: 3, ephemeral: [{ ...v3.ephemeral[0] }] });
  });

  it('refuses a corrupt key file instead of replacing it', async () => {
    const state = await mkdtemp(path.join(work, 'state-'));
    const svc = ephService('bad', state, [[80, '127.0.0.1:9000']]);
    await mkdir(path.dirname(svc.keyFile), { recursive: true });
    await writeFile(svc.keyFile, 'ED25519-V3:not-a-key\n', { mode: 0o600 });
    const p = await plan(desiredState(state, { onionServices: [svc] }));
    expect(p.errors[0]!.message).toMatch(/refusing to replace/);
    expect(await readFile(svc.keyFile, 'utf8')).toBe('ED25519-V3:not-a-key\n');
  });
});

describe('interrupting apply', () => {
  it('finishes the step in flight, skips the rest, and says so', async () => {
    const d = desiredState(work, { options: { ContactInfo: 'interrupted@example.org', NumEntryGuards: null } });
    await tor.client.setConf({ NumEntryGuards: '5' });
    const p = await plan(d);
    expect(p.steps.length).toBe(2);
    const abort = new AbortController();
    const result = await applyPlan(tor.client, p, { signal: abort.signal, onStep: () => abort.abort() });
    expect(result.interrupted).toBe(true);
    expect(result.ok).toBe(false);
    expect(result.results.map((r) => r.status)).toEqual(['done', 'skipped']);
    expect((await tor.client.getConf(['NumEntryGuards'])).get('NumEntryGuards')).toEqual(['0']);
    expect((await tor.client.getConf(['ContactInfo'])).get('ContactInfo')).not.toEqual(['interrupted@example.org']);
  });
});

describe('client authorization (this tor as a client)', () => {
  it('adds, keeps, and rotates credentials; the private key never appears in the plan', async () => {
    const svc = await tor.client.addOnion({ key: 'NEW:ED25519-V3', ports: [{ port: 80 }], flags: ['Detach', 'DiscardPK'] });
    const k1 = generateClientAuthKeyPair();
    const d = desiredState(work, { clientAuth: [clientAuth(svc.serviceId, k1.privateKey, { clientName: 'me' })] });
    const first = await converge(d);
    expect(first.result.ok).toBe(true);
    expect(JSON.stringify(first.plan)).not.toContain(k1.privateKey.reveal());
    expect(JSON.stringify(first.plan)).not.toContain(k1.privateKeyBase64.reveal());
    expect((await tor.client.onionClientAuthView(svc.serviceId))[0]!.privateKey.reveal()).toBe(k1.privateKeyBase64.reveal());
    expect((await converge(d)).sent).toEqual([]);
    const k2 = generateClientAuthKeyPair();
    const rotated = await converge(desiredState(work, { clientAuth: [clientAuth(svc.serviceId, k2.privateKey, { clientName: 'me' })] }));
    expect(rotated.sent.map((s) => s.split(' ')[0])).toEqual(['ONION_CLIENT_AUTH_REMOVE', 'ONION_CLIENT_AUTH_ADD']);
    await tor.client.onionClientAuthRemove(svc.serviceId);
    await tor.client.delOnion(svc.serviceId);
  });
});
