/**
 * Tor rebuilds its client-auth map from ClientOnionAuthDir on every SETCONF/RESETCONF (and SIGHUP), even one
 * that changes nothing: credentials added over the control port without Flags=Permanent are gone after it
 * (docs/client-auth.md). These tests pin that on a real tor, and that plan, apply and watch cope with it.
 */
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type CliIo } from '../../src/cli/program.js';
import { resolveDesired } from '../../src/reconcile/desired.js';
import { readLiveState } from '../../src/reconcile/live.js';
import { computePlan, isEmptyPlan, type PlanContext } from '../../src/reconcile/plan.js';
import { reconcileOnce, tableFor } from '../../src/reconcile/reconcile.js';
import { Watcher, type WatchLogEntry } from '../../src/reconcile/watch.js';
import { loadSpec } from '../../src/spec/index.js';
import { formatControlAddress } from '../../src/tor/address.js';
import type { DesiredState } from '../../src/spec/model.js';
import { connect, type TorClient } from '../../src/tor/client.js';
import { OptionTable } from '../../src/tor/config/types.js';
import { clientAuthPrivateLine, generateClientAuthKeyPair, generateServiceKey } from '../../src/tor/onion/index.js';
import { Secret } from '../../src/tor/secret.js';
import { clientAuth, desiredState } from '../helpers/desired.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';

let tor: TestTor;
let other: TorClient;
let work: string;
let ctx: PlanContext;

const address = generateServiceKey().address;
const pair = generateClientAuthKeyPair();
const spec = (contact: string): DesiredState =>
  desiredState(work, { options: { ContactInfo: contact }, clientAuth: [clientAuth(address, new Secret(pair.privateKey.reveal()), { clientName: 'alice' })] });

const held = async () => (await tor.client.onionClientAuthView()).map((e) => e.address);
const plan = async (d: DesiredState) => computePlan(d, await readLiveState(tor.client, d), ctx);

beforeAll(async () => {
  tor = await startTestTor();
  // Another controller of the same tor (a person with nyx, a second tool).
  other = await connect({ control: tor.controlAddress, cookieFile: path.join(tor.dataDirectory, 'control_auth_cookie') });
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-ca-'));
  ctx = { table: OptionTable.bundled(), target: 'test', uid: process.getuid!(), salt: 'fixed' };
}, 60_000);
afterAll(async () => {
  await other?.close();
  await tor?.cleanup();
  await rm(work, { recursive: true, force: true });
});

describe('non-permanent client credentials and SETCONF', () => {
  it('tor forgets a non-permanent credential at any SETCONF, even one that changes nothing', async () => {
    await tor.client.onionClientAuthAdd({ address, privateKey: pair.privateKeyBase64 });
    expect(await held()).toEqual([address]);
    const [value] = (await tor.client.getConf(['ContactInfo'])).get('ContactInfo') ?? [];
    await other.setConf({ ContactInfo: value ?? '' });
    expect(await held()).toEqual([]);
  }, 60_000);

  it('apply of a changed option keeps the credential, and the re-plan is empty', async () => {
    const first = await reconcileOnce(tor.client, resolveDesired(spec('one@example.org')), ctx);
    expect(first.result.ok).toBe(true);
    expect(await held()).toEqual([address]);
    const d = spec('two@example.org');
    const p = await plan(d);
    const ops = p.steps.map((s) => s.op);
    // Re-added after the SETCONF that drops it, and the plan says why.
    expect(ops).toEqual(['setconf', 'client-auth-add']);
    const change = p.changes.find((c) => c.kind === 'client-auth')!;
    expect(change.action).toBe('update');
    expect(change.reason).toMatch(/without Permanent.*SETCONF/);
    const second = await reconcileOnce(tor.client, resolveDesired(d), ctx, { plan: p });
    expect(second.result.remaining).toEqual([]);
    expect(second.result.ok).toBe(true);
    expect(await held()).toEqual([address]);
    expect((await tor.client.onionClientAuthView())[0]!.clientName).toBe('alice');
    expect(isEmptyPlan(await plan(d))).toBe(true);
  }, 60_000);

  it("another controller's SETCONF drops it: the plan re-adds it, and apply restores it", async () => {
    const d = spec('two@example.org');
    // As the spec wants it, whatever the test before left.
    await tor.client.setConf({ ContactInfo: 'two@example.org' });
    await tor.client.onionClientAuthAdd({ address, privateKey: pair.privateKeyBase64, clientName: 'alice' });
    expect(isEmptyPlan(await plan(d))).toBe(true);
    await other.setConf({ Nickname: 'someoneElse' });
    expect(await held()).toEqual([]);
    const p = await plan(d);
    expect(p.changes.filter((c) => c.action !== 'noop').map((c) => [c.kind, c.id, c.action])).toEqual([['client-auth', address, 'create']]);
    expect(p.steps.map((s) => s.op)).toEqual(['client-auth-add']);
    expect((await reconcileOnce(tor.client, resolveDesired(d), ctx, { plan: p })).result.ok).toBe(true);
    expect(await held()).toEqual([address]);
  }, 60_000);

  it("keeps a credential it leaves alone (not in the spec) as tor held it, across its own SETCONF", async () => {
    const theirs = generateServiceKey().address;
    const theirKey = generateClientAuthKeyPair();
    await other.onionClientAuthAdd({ address: theirs, privateKey: theirKey.privateKeyBase64, clientName: 'bob' });
    const before = (await tor.client.onionClientAuthView(theirs)).map((e) => `${e.clientName} ${e.privateKey.reveal()} ${e.flags.join(',')}`);
    const d = spec('three@example.org');
    const p = await plan(d);
    expect(p.warnings.map((w) => w.message).join('\n')).toContain(`left alone): ${theirs}`);
    expect(p.changes.find((c) => c.id === theirs)?.reason).toMatch(/^not in the spec \(left alone\); tor forgets/);
    expect((await reconcileOnce(tor.client, resolveDesired(d), ctx, { plan: p })).result.ok).toBe(true);
    expect((await tor.client.onionClientAuthView(theirs)).map((e) => `${e.clientName} ${e.privateKey.reveal()} ${e.flags.join(',')}`)).toEqual(before);
    await other.onionClientAuthRemove(theirs);
  }, 60_000);

  it('a permanent credential survives SETCONF, and is added again when the plan moves ClientOnionAuthDir', async () => {
    const [one, two] = [path.join(work, 'auth-one'), path.join(work, 'auth-two')];
    await mkdir(one, { mode: 0o700 });
    await mkdir(two, { mode: 0o700 });
    const permanent = (dir: string, contact: string) =>
      desiredState(work, { options: { ClientOnionAuthDir: dir, ContactInfo: contact }, clientAuth: [clientAuth(address, new Secret(pair.privateKey.reveal()), { permanent: true })] });
    expect((await reconcileOnce(tor.client, resolveDesired(permanent(one, 'p1@example.org')), ctx)).result.ok).toBe(true);
    // Only the option: the file in ClientOnionAuthDir brings the credential back.
    const same = await plan(permanent(one, 'p2@example.org'));
    expect(same.steps.map((s) => s.op)).toEqual(['setconf']);
    expect((await reconcileOnce(tor.client, resolveDesired(permanent(one, 'p2@example.org')), ctx, { plan: same })).result.ok).toBe(true);
    const moved = await plan(permanent(two, 'p2@example.org'));
    expect(moved.steps.map((s) => s.op)).toEqual(['setconf', 'client-auth-add']);
    expect(moved.changes.find((c) => c.kind === 'client-auth')?.reason).toMatch(/changes ClientOnionAuthDir/);
    expect((await reconcileOnce(tor.client, resolveDesired(permanent(two, 'p2@example.org')), ctx, { plan: moved })).result.ok).toBe(true);
    expect((await readdir(two)).filter((f) => f.endsWith('.auth_private'))).toHaveLength(1);
    await tor.client.resetConf(['ClientOnionAuthDir']);
  }, 60_000);
});

describe('watch and credentials another controller makes tor forget', () => {
  let w: Watcher | undefined;
  afterAll(async () => {
    await w?.stop();
  });

  it("restores them after another controller's SETCONF of an option the spec does not manage", async () => {
    const dir = await mkdtemp(path.join(work, 'watch-'));
    await writeFile(path.join(dir, 'alice.auth_private'), clientAuthPrivateLine(address, pair.privateKey).reveal() + '\n', { mode: 0o600 });
    const file = path.join(dir, 'spec.yaml');
    await writeFile(file, 'version: 1\noptions:\n  ContactInfo: watch@example.org\nclientAuth:\n  - privateKey: ${file:./alice.auth_private}\n    name: alice\n');
    const logs: WatchLogEntry[] = [];
    // No resync and no onion poll within the test: only the CONF_CHANGED can bring the credential back.
    w = new Watcher({ specFiles: [file], control: formatControlAddress(tor.controlAddress), debounceMs: 20, resyncMs: 600_000, onionPollMs: 0, table: tableFor, log: (e) => logs.push(e), load: async (table) => (await loadSpec([file], table ? { table } : {})).state });
    await w.start();
    expect(await held()).toEqual([address]);
    await other.setConf({ Nickname: 'watchOther' });
    await until('the credential back in tor', async () => (await held()).includes(address));
    await until('the log line', () => logs.some((l) => l.event === 'reconcile' && /reverted drift: create client-auth/.test(l.message)));
    expect(w.metrics.driftsReverted).toBe(1);
    await w.stop();
  }, 60_000);

  it('restores them within the poll interval after a SETCONF that changes nothing, which sends no CONF_CHANGED', async () => {
    const dir = await mkdtemp(path.join(work, 'watch-'));
    await writeFile(path.join(dir, 'alice.auth_private'), clientAuthPrivateLine(address, pair.privateKey).reveal() + '\n', { mode: 0o600 });
    const file = path.join(dir, 'spec.yaml');
    await writeFile(file, 'version: 1\noptions:\n  ContactInfo: quiet@example.org\nclientAuth:\n  - privateKey: ${file:./alice.auth_private}\n    name: alice\n');
    const logs: WatchLogEntry[] = [];
    w = new Watcher({ specFiles: [file], control: formatControlAddress(tor.controlAddress), debounceMs: 20, resyncMs: 600_000, onionPollMs: 200, table: tableFor, log: (e) => logs.push(e), load: async (table) => (await loadSpec([file], table ? { table } : {})).state });
    await w.start();
    const events: unknown[] = [];
    await other.on('CONF_CHANGED', (e) => events.push(e));
    expect(await held()).toEqual([address]);
    await other.setConf({ ContactInfo: 'quiet@example.org' });
    await until('the credential back in tor', async () => (await held()).includes(address));
    await until('the poll log line', () => logs.some((l) => l.event === 'client-auth-poll' && l.message.includes(address)));
    expect(events).toEqual([]);
    await w.stop();
  }, 60_000);
});

describe('watch against a controller that keeps flipping an option', () => {
  it('backs off from the option but keeps adding the credential back', async () => {
    const dir = await mkdtemp(path.join(work, 'fight-'));
    await writeFile(path.join(dir, 'alice.auth_private'), clientAuthPrivateLine(address, pair.privateKey).reveal() + '\n', { mode: 0o600 });
    const file = path.join(dir, 'spec.yaml');
    await writeFile(file, 'version: 1\noptions:\n  ContactInfo: mine@example.org\nclientAuth:\n  - privateKey: ${file:./alice.auth_private}\n    name: alice\n');
    const logs: WatchLogEntry[] = [];
    const w = new Watcher({ specFiles: [file], control: formatControlAddress(tor.controlAddress), debounceMs: 20, resyncMs: 600_000, onionPollMs: 200, table: tableFor, log: (e) => logs.push(e), load: async (table) => (await loadSpec([file], table ? { table } : {})).state });
    try {
      await w.start();
      const until3s = Date.now() + 3000;
      let i = 0;
      while (Date.now() < until3s) {
        await other.setConf({ ContactInfo: `theirs-${i++}` });
        await new Promise((r) => setTimeout(r, 50));
      }
      await until('the option in conflict', () => logs.some((l) => l.event === 'conflict'));
      expect(logs.filter((l) => l.event === 'conflict').map((l) => String(l.message).split(':')[0])).not.toContain('client-auth');
      // The fight is over: the credential its last SETCONF dropped comes back within the poll interval.
      await until('the credential back in tor', async () => (await held()).includes(address));
    } finally {
      await w.stop();
    }
  }, 60_000);
});

describe('the hardened-client example, through the CLI', () => {
  it('apply of a changed option keeps its credential and passes its own check', async () => {
    const dir = await mkdtemp(path.join(work, 'cli-'));
    await cp(path.join(import.meta.dirname, '../../examples/specs'), dir, { recursive: true });
    const spec = path.join(dir, 'hardened-client.yaml');
    const control = formatControlAddress(tor.controlAddress);
    const io = () => {
      const out = { text: '', io: {} as CliIo };
      out.io = { stdout: (s) => void (out.text += s), stderr: (s) => void (out.text += s), env: {} };
      return out;
    };
    const first = io();
    expect(await run(['apply', spec, '--control', control], first.io), first.text).toBe(0);
    await writeFile(spec, (await readFile(spec, 'utf8')).replace('MaxCircuitDirtiness: 5 minutes', 'MaxCircuitDirtiness: 6 minutes'));
    const second = io();
    expect(await run(['apply', spec, '--control', control], second.io), second.text).toBe(0);
    expect(second.text).toMatch(/SETCONF MaxCircuitDirtiness="360"[\s\S]*ONION_CLIENT_AUTH_ADD/);
    expect((await tor.client.onionClientAuthView()).map((e) => e.clientName)).toContain('demo');
    const plan = io();
    expect(await run(['plan', spec, '--control', control, '--detailed-exitcode'], plan.io), plan.text).toBe(0);
  }, 60_000);
});

async function until(what: string, check: () => Promise<boolean> | boolean, timeout = 15_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
