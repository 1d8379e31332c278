/**
 * Issue #17, balanced services, the parts that need no network: `type: balanced` in the spec, what each
 * backend gets (its filesystem service with HiddenServiceOnionBalanceInstance and ob_config, written before
 * the SETCONF), and Onionbalance's config.yaml and frontend key files.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendServices, configYaml, frontendChanged, loadFrontends, planFrontend, writeFrontend, writeNewFrontendKeys } from '../../src/fleet/balanced.js';
import { targetState } from '../../src/fleet/desired.js';
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
