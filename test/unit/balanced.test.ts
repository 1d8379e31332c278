/**
 * Issue #17, balanced services, the parts that need no network: `type: balanced` in the spec, what each
 * backend gets (its filesystem service with HiddenServiceOnionBalanceInstance and ob_config, written before
 * the SETCONF), and Onionbalance's config.yaml and frontend key files.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendServices, configYaml, frontendChanged, listedInstances, loadFrontends, planFrontend, writeFrontend, writeNewFrontendKeys } from '../../src/fleet/balanced.js';
import { targetState } from '../../src/fleet/desired.js';
import { obArgv, obDigest, planOb } from '../../src/fleet/onionbalance.js';
import { KEY_STORE_FILE } from '../../src/reconcile/keystore.js';
import { loadKeyFile } from '../../src/reconcile/local.js';
import { computePlan } from '../../src/reconcile/plan.js';
import { loadSpecSources, SpecErrors } from '../../src/spec/index.js';
import { encodeSecretKeyFile } from '../../src/tor/onion/keys.js';
import { liveState, planCtx } from '../helpers/desired.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'tr-balanced-unit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SPEC = `version: 1
stateDirectory: ./state
targets:
  - { name: b1, control: tcp:10.0.0.1:9051 }
  - { name: b2, control: tcp:10.0.0.2:9051 }
  - { name: other, control: tcp:10.0.0.3:9051 }
onionServices:
  - name: shop
    type: balanced
    frontend: { key: { generate: true }, directory: ./ob }
    backends: [b1, b2]
    directory: ./hs/{target}/shop
    ports: [{ port: 80, target: 8080 }]
    options: { HiddenServiceMaxStreams: 5 }
`;

const load = (text: string) => loadSpecSources([{ name: 'spec.yaml', text, path: path.join(dir, 'spec.yaml') }], { env: {} });

async function errorsOf(text: string): Promise<string[]> {
  try {
    await load(text);
  } catch (err) {
    if (err instanceof SpecErrors) return err.errors.map((e) => `${e.line}:${e.col} ${e.message}`);
    throw err;
  }
  throw new Error('the spec loaded');
}

describe('type: balanced in the spec', () => {
  it('normalizes the frontend, the backends and the per-backend directory', async () => {
    const { state } = await load(SPEC);
    expect(state.onionServices).toEqual([]);
    expect(state.balanced).toEqual([
      expect.objectContaining({
        name: 'shop',
        frontendKeyFile: path.join(dir, 'state/keys/shop.frontend.key'),
        generated: true,
        frontendDirectory: path.join(dir, 'ob'),
        backends: ['b1', 'b2'],
        directory: path.join(dir, 'hs/{target}/shop'),
        ports: [{ port: 80, target: '127.0.0.1:8080' }],
        options: [['HiddenServiceMaxStreams', '5']],
      }),
    ]);
  });

  it('reports mistakes at file:line:col', async () => {
    expect(await errorsOf(SPEC.replace('backends: [b1, b2]', 'backends: [b1, nope]').replace('{ generate: true }', '{ generate: true, file: ./k }'))).toEqual([
      expect.stringMatching(/^10:17 frontend.key: give \{ file: PATH \} or \{ generate: true \}/),
      expect.stringMatching(/^11:20 service "shop": backend "nope" is not a target \(targets: b1, b2, other\)/),
    ]);
    expect(await errorsOf('version: 1\nonionServices:\n  - { name: s, type: balanced, frontend: { key: { generate: true }, directory: ./ob }, backends: [a], directory: ./hs, ports: [{ port: 80 }] }\n')).toEqual([
      expect.stringMatching(/^3:16 service "s": a balanced service needs targets:/),
    ]);
  });
});

describe('onionbalance: { manage: true }', () => {
  const managed = (block: string) => SPEC.replace('    options: { HiddenServiceMaxStreams: 5 }\n', `    options: { HiddenServiceMaxStreams: 5 }\n${block}`);

  it('normalizes the process: its own tor (a relative socket is the spec file\'s), the binary, -v, --is-testnet', async () => {
    const { state } = await load(managed('    onionbalance: { manage: true, control: unix:./ob/control, isTestnet: true }\n'));
    expect(state.balanced![0]!.onionbalance).toEqual({ control: `unix:${path.join(dir, 'ob/control')}`, binary: 'onionbalance', isTestnet: true, verbosity: 'info', source: expect.anything() });
    const off = await load(managed('    onionbalance: { manage: false, control: unix:./ob/control }\n'));
    expect(off.state.balanced![0]!.onionbalance).toBeUndefined();
    const bin = await load(managed('    onionbalance: { manage: true, control: tcp:127.0.0.1:9151, binary: ./bin/ob, verbosity: debug }\n'));
    expect(bin.state.balanced![0]!.onionbalance).toMatchObject({ control: 'tcp:127.0.0.1:9151', binary: path.join(dir, 'bin/ob'), verbosity: 'debug' });
  });

  it('refuses manage without control, and a backend\'s tor as Onionbalance\'s, at file:line:col', async () => {
    expect(await errorsOf(managed('    onionbalance: { manage: true }\n'))).toEqual([expect.stringMatching(/^15:5 service "shop": onionbalance.manage needs onionbalance.control/)]);
    expect(await errorsOf(managed('    onionbalance: { manage: true, control: tcp:10.0.0.2:9051 }\n'))).toEqual([expect.stringMatching(/^15:44 service "shop": onionbalance.control is backend "b2"'s tor/)]);
  });

  const m = { control: 'unix:/run/ob/control', binary: 'onionbalance', isTestnet: false, verbosity: 'info' as const, source: { file: 's', line: 1, col: 1 } };
  const running = { pid: 42, startTime: '7', argv: obArgv(m, '/ob/config.yaml', '/ob'), digest: 'd1' };

  it('the command line always passes -s, so Onionbalance never falls back to another tor', () => {
    expect(obArgv(m, '/ob/config.yaml', '/ob')).toEqual(['onionbalance', '-s', '/run/ob/control', '-i', '127.0.0.1', '-p', '1', '-c', '/ob/config.yaml', '-v', 'info']);
    expect(obArgv({ ...m, control: 'tcp:127.0.0.1:9151', isTestnet: true }, '/ob/config.yaml', '/ob')).toEqual(['onionbalance', '-s', '/ob/no-control-socket', '-i', '127.0.0.1', '-p', '9151', '-c', '/ob/config.yaml', '-v', 'info', '--is-testnet']);
  });

  it('plans start when not running (or the pid is not ours), reload for another config, restart for another command line, nothing when loaded', () => {
    const plan = (state: Parameters<typeof planOb>[3], digest = 'd1') => planOb(m, '/ob', '/ob/config.yaml', state, digest);
    expect(plan({})).toMatchObject({ action: 'start', reason: 'not running', pidFile: '/ob/onionbalance.pid', logFile: '/ob/onionbalance.log' });
    expect(plan({ stale: running })).toMatchObject({ action: 'start', reason: 'not running (pid 42 of the pid file has exited)' });
    expect(plan({ stale: running, recycled: true })).toMatchObject({ action: 'start', reason: 'not running (pid 42 of the pid file is now another process, never signalled)' });
    expect(plan({ unreadable: '/ob/onionbalance.pid: bad' })).toMatchObject({ action: 'start', reason: expect.stringContaining('/ob/onionbalance.pid: bad') });
    expect(plan({ running })).toMatchObject({ action: null, pid: 42 });
    expect(plan({ running }, 'd2')).toMatchObject({ action: 'reload', pid: 42 });
    expect(planOb(m, '/ob', '/ob/config.yaml', { running }, 'd1', ['b2'])).toMatchObject({ action: 'reload', reason: 'running (pid 42); config.yaml gains the address of b2 on apply' });
    expect(plan({ running: { ...running, argv: ['onionbalance', '-c', 'x'] } }, 'd2')).toMatchObject({ action: 'restart', pid: 42 });
    expect(obDigest('a', 'x')).not.toBe(obDigest('a', 'y'));
    expect(obDigest('a', 'x')).not.toBe(obDigest('b', 'x'));
  });
});

describe('backends and frontend', () => {
  it('each backend gets a filesystem service with HiddenServiceOnionBalanceInstance 1 and ob_config; others get none', async () => {
    const { state } = await load(SPEC);
    const fronts = await loadFrontends(state);
    expect(fronts[0]!.newKey).toBe(true);
    const address = fronts[0]!.address!;
    expect(backendServices(fronts, 'other')).toEqual([]);
    const b2 = targetState(state, state.targets![1]!, fronts);
    expect(b2.onionServices).toEqual([
      expect.objectContaining({
        type: 'filesystem',
        name: 'shop',
        directory: path.join(dir, 'hs/b2/shop'),
        options: [
          ['HiddenServiceMaxStreams', '5'],
          ['HiddenServiceOnionBalanceInstance', '1'],
        ],
        obConfig: `MasterOnionAddress ${address}.onion\n`,
      }),
    ]);
    expect('balanced' in b2).toBe(false);
  });

  it('the single-tor plan writes ob_config before the SETCONF that loads the service, and again when it differs', async () => {
    const { state } = await load(SPEC);
    const fronts = await loadFrontends(state);
    const desired = targetState(state, state.targets![0]!, fronts);
    const plan = computePlan(desired, liveState(), planCtx);
    const ops = plan.steps.map((s) => (s.op === 'write-file' ? `write ${path.basename(s.path)}` : s.op));
    expect(ops).toEqual(['mkdir', 'write ob_config', 'setconf']);
    const dirOf = path.join(dir, 'hs/b1/shop');
    const stale = liveState({ serviceFiles: new Map([[dirOf, { clients: new Map(), exists: true, mode: 0o700, obConfig: 'MasterOnionAddress old.onion\n' }]]) });
    const again = computePlan(desired, stale, planCtx);
    expect(again.changes.find((c) => c.id === 'shop')!.reason).toContain('ob_config differs');
  });

  it('config.yaml lists the backends with known addresses; an unreachable backend keeps the address it had', async () => {
    const A = 'a'.repeat(56);
    const B = 'b'.repeat(56);
    expect(configYaml('/ob/shop.key', [{ target: 'b1', address: A }, { target: 'b2', address: null }])).toBe(
      `# Written by tor-reconcile from its spec: changes here are replaced on the next apply.\nservices:\n  - key: "/ob/shop.key"\n    instances:\n      - address: ${A}\n        name: "b1"\n`,
    );
    const { state } = await load(SPEC);
    const [front] = await loadFrontends(state);
    const first = await planFrontend(front!, (t) => [{ name: 'shop', type: 'filesystem', address: t === 'b1' ? A : B }]);
    expect(frontendChanged(first)).toBe(true);
    await writeNewFrontendKeys([front!], state.stateDirectory);
    // The generated frontend key is in the state directory's key store (0600), read back by its path.
    expect((await stat(path.join(path.dirname(front!.service.frontendKeyFile), KEY_STORE_FILE))).mode & 0o777).toBe(0o600);
    expect((await loadKeyFile(front!.service.frontendKeyFile)).address).toBe(front!.key!.address);
    await writeFrontend(front!, first);
    expect((await stat(first.keyFile)).mode & 0o777).toBe(0o600);
    expect(await readFile(first.keyFile)).toEqual(encodeSecretKeyFile(front!.key!).reveal());
    const unreachable = await planFrontend(front!, (t) => (t === 'b1' ? undefined : [{ name: 'shop', type: 'filesystem', address: B }]));
    expect(unreachable.backends).toEqual([{ target: 'b1', address: A }, { target: 'b2', address: B }]);
    expect(frontendChanged(unreachable)).toBe(false);
    // The key is now on disk: the next run reads it instead of generating another.
    const [reread] = await loadFrontends(state);
    expect(reread!.address).toBe(front!.address);
    expect(reread!.newKey).toBeUndefined();
    await writeFile(first.configFile, 'edited by hand\n');
    expect(frontendChanged(await planFrontend(reread!, (t) => [{ name: 'shop', type: 'filesystem', address: t === 'b1' ? A : B }]))).toBe(true);
  });
});

describe('listedInstances', () => {
  it('reads back exactly the instances configYaml wrote (what a reload or a start is refused without)', () => {
    const a = 'a'.repeat(56);
    const c = 'c'.repeat(56);
    const text = configYaml('/srv/ob/shop.key', [
      { target: 'edge-1', address: a },
      { target: 'edge-2', address: null },
      { target: 'edge-3', address: c },
    ]);
    expect([...listedInstances(text)]).toEqual([
      ['edge-1', a],
      ['edge-3', c],
    ]);
    expect(listedInstances(configYaml('/srv/ob/shop.key', [{ target: 'edge-1', address: null }])).size).toBe(0);
  });
});
