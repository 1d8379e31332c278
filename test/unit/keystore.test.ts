/**
 * The key store (issue #16): generated keys in the state directory are written to one file per key
 * directory in one durable write and nowhere else; older key files keep working and are folded in; a store
 * that cannot be read is an error, never "no keys".
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_STORE_FILE, keyStoreFor } from '../../src/reconcile/keystore.js';
import { readLocal } from '../../src/reconcile/live.js';
import { computePlan } from '../../src/reconcile/plan.js';
import { createKeyFiles, keyFileDigest, loadKeyFile, persistKeys, probeKeyFile, probeKeyFiles } from '../../src/reconcile/local.js';
import { generateServiceKey, type OnionServiceKey } from '../../src/tor/onion/index.js';
import { cliInProcess } from '../helpers/cli.js';
import { desiredState, ephService, liveState, planCtx } from '../helpers/desired.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'tr-keystore-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const blob = (key: OnionServiceKey) => key.toAddOnionBlob().reveal() + '\n';
const mode = async (file: string) => (await stat(file)).mode & 0o777;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function stateDir(name: string): Promise<{ state: string; keys: string }> {
  const state = path.join(root, name);
  return { state, keys: path.join(state, 'keys') };
}

describe('generated keys go to the key store', () => {
  it('writes every key of a directory into one 0600 store and no file per key, and reads the store', async () => {
    const { state, keys } = await stateDir('one-store');
    const generated = Array.from({ length: 50 }, (_, i) => ({ file: path.join(keys, `s${i}.key`), key: generateServiceKey() }));
    await createKeyFiles(generated, state);
    const store = JSON.parse(await readFile(path.join(keys, KEY_STORE_FILE), 'utf8')) as { format_version: number; keys: Record<string, string> };
    expect(store.format_version).toBe(1);
    expect(Object.keys(store.keys).sort()).toEqual(generated.map((g) => path.basename(g.file)).sort());
    expect(await mode(path.join(keys, KEY_STORE_FILE))).toBe(0o600);
    expect(await mode(keys)).toBe(0o700);
    for (const g of generated) {
      expect(store.keys[path.basename(g.file)]).toBe(blob(g.key).trimEnd());
      expect((await loadKeyFile(g.file)).address).toBe(g.key.address);
    }
    // The store alone: no file per key, and no temporary file left behind.
    expect(await readdir(keys)).toEqual([KEY_STORE_FILE]);
    const probed = await probeKeyFiles(generated.map((g) => ({ file: g.file })));
    expect(probed.keys).toEqual(generated.map((g) => ({ address: g.key.address })));
    // What holds the secrets, for the plan's mode checks, is the store.
    expect(new Set(probed.holders)).toEqual(new Set([path.join(keys, KEY_STORE_FILE)]));
  });

  it("the store's entry is the key of its path, whatever a file there holds", async () => {
    const { state, keys } = await stateDir('store-wins');
    const key = generateServiceKey();
    const file = path.join(keys, 'web.key');
    await createKeyFiles([{ file, key }], state);
    await writeFile(file, blob(generateServiceKey()));
    expect((await loadKeyFile(file)).address).toBe(key.address);
    expect(await probeKeyFile(file)).toEqual({ address: key.address });
    expect((await probeKeyFiles([{ file }])).keys).toEqual([{ address: key.address }]);
    // Even with the file gone.
    await rm(file);
    expect((await probeKeyFiles([{ file }])).keys).toEqual([{ address: key.address }]);
    expect(await keyFileDigest(file)).toBe(sha256(Buffer.from(blob(key))));
  });

  it('refuses to replace a key that appeared meanwhile, in the store or as a file, and writes nothing', async () => {
    const { state, keys } = await stateDir('appeared');
    const first = generateServiceKey();
    await createKeyFiles([{ file: path.join(keys, 'a.key'), key: first }], state);
    const before = await readFile(path.join(keys, KEY_STORE_FILE), 'utf8');
    await expect(createKeyFiles([{ file: path.join(keys, 'b.key'), key: generateServiceKey() }, { file: path.join(keys, 'a.key'), key: generateServiceKey() }], state)).rejects.toThrow(/appeared meanwhile/);
    await writeFile(path.join(keys, 'c.key'), 'whatever\n');
    await expect(createKeyFiles([{ file: path.join(keys, 'c.key'), key: generateServiceKey() }], state)).rejects.toThrow(/appeared meanwhile/);
    expect(await readFile(path.join(keys, KEY_STORE_FILE), 'utf8')).toBe(before);
    expect((await loadKeyFile(path.join(keys, 'a.key'))).address).toBe(first.address);
    await expect(stat(path.join(keys, 'b.key'))).rejects.toThrow(/ENOENT/);
  });

  it('reads key files written before the store, and folds them into it unchanged at the next generation', async () => {
    const { state, keys } = await stateDir('migrate');
    await mkdir(keys, { recursive: true, mode: 0o700 });
    const old = generateServiceKey();
    const oldFile = path.join(keys, 'old.key');
    await writeFile(oldFile, blob(old), { mode: 0o600 });
    await writeFile(path.join(keys, 'broken.key'), 'ED25519-V3:garbage\n', { mode: 0o600 });
    const record = { target: '', spec: 's', name: 'old', address: old.address, keyFile: oldFile, config: 'c', keyDigest: sha256(Buffer.from(blob(old))) };
    expect(await probeKeyFiles([{ file: oldFile, record }, { file: path.join(keys, 'new.key') }])).toEqual({ keys: [{ address: old.address }, { missing: true }], holders: [oldFile, path.join(keys, 'new.key')] });
    const fresh = generateServiceKey();
    await createKeyFiles([{ file: path.join(keys, 'new.key'), key: fresh }], state);
    const store = JSON.parse(await readFile(path.join(keys, KEY_STORE_FILE), 'utf8')) as { keys: Record<string, string> };
    // Folded in byte for byte: the recorded digest still proves the address; the broken file stays a file.
    expect(Object.keys(store.keys).sort()).toEqual(['new.key', 'old.key']);
    expect(await keyFileDigest(oldFile)).toBe(record.keyDigest);
    expect(await readFile(oldFile, 'utf8')).toBe(blob(old));
    const probed = (await probeKeyFiles([{ file: oldFile, record }, { file: path.join(keys, 'new.key') }, { file: path.join(keys, 'broken.key') }])).keys;
    expect(probed.slice(0, 2)).toEqual([{ address: old.address }, { address: fresh.address }]);
    expect(probed[2]!.error).toMatch(/broken\.key.*ED25519-V3/);
  });

  it.each([
    ['not JSON', '{"format_version": 1, "keys": {'],
    ['a newer format', JSON.stringify({ format_version: 2, keys: {} })],
    ['a malformed entry', JSON.stringify({ format_version: 1, keys: { 'web.key': 'RSA1024:xyz' } })],
  ])('a store that is %s is an error for every key it could hold, never a missing key', async (name, text) => {
    const { state, keys } = await stateDir(`broken-${name.replace(/\W/g, '')}`);
    const file = path.join(keys, 'web.key');
    await createKeyFiles([{ file, key: generateServiceKey() }], state);
    await writeFile(path.join(keys, KEY_STORE_FILE), text);
    const [probed] = (await probeKeyFiles([{ file }])).keys;
    expect(probed!.missing).toBeUndefined();
    expect(probed!.error).toMatch(/keystore\.json: is not a tor-reconcile key store/);
    expect((await probeKeyFile(path.join(keys, 'other.key'))).error).toMatch(/not a tor-reconcile key store/);
    await expect(createKeyFiles([{ file: path.join(keys, 'other.key'), key: generateServiceKey() }], state)).rejects.toThrow(/not a tor-reconcile key store/);
  });

  it('a key file outside the state directory (a spec key.file) stays a file of its own, with no store', async () => {
    const { state } = await stateDir('loose-state');
    const own = path.join(root, 'own-keys', 'web.key');
    const key = generateServiceKey();
    await createKeyFiles([{ file: own, key }], state);
    expect(await readdir(path.dirname(own))).toEqual(['web.key']);
    expect(await readFile(own, 'utf8')).toBe(blob(key));
    expect(await mode(own)).toBe(0o600);
  });

  it('keys import over a stored key replaces the store entry, and no file is made for it', async () => {
    const { state, keys } = await stateDir('import');
    const file = path.join(keys, 'web.key');
    await createKeyFiles([{ file, key: generateServiceKey() }], state);
    const imported = generateServiceKey();
    await persistKeys([{ file, key: imported }], state);
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
    expect((await probeKeyFiles([{ file }])).keys).toEqual([{ address: imported.address }]);
    expect(JSON.parse(await readFile(path.join(keys, KEY_STORE_FILE), 'utf8')).keys['web.key']).toBe(blob(imported).trimEnd());
  });

  it('keys import rewrites a copy an older tor-reconcile kept beside the store, so no file shows the old key', async () => {
    const { state, keys } = await stateDir('import-copy');
    const file = path.join(keys, 'web.key');
    const first = generateServiceKey();
    await createKeyFiles([{ file, key: first }], state);
    await writeFile(file, blob(first), { mode: 0o600 });
    const imported = generateServiceKey();
    await persistKeys([{ file, key: imported }], state);
    expect(await readFile(file, 'utf8')).toBe(blob(imported));
    expect(await mode(file)).toBe(0o600);
    expect((await loadKeyFile(file)).address).toBe(imported.address);
  });

  it("a plan judges the files that hold the keys: the key store once for every key it holds or will hold, a key file of one's own by itself", async () => {
    const { state, keys } = await stateDir('holders');
    const stored = ephService('stored', state, [[80, '127.0.0.1:9000']]);
    const fresh = ephService('fresh', state, [[80, '127.0.0.1:9000']]);
    const own = ephService('own', state, [[80, '127.0.0.1:9000']], { keyFile: path.join(root, 'holders-own', 'own.key') });
    await createKeyFiles([{ file: stored.keyFile, key: generateServiceKey() }], state);
    await chmod(path.join(keys, KEY_STORE_FILE), 0o644);
    const local = await readLocal(desiredState(state, { onionServices: [stored, fresh, own] }));
    expect([...local.localFiles.keyFiles.keys()].sort()).toEqual([own.keyFile, path.join(keys, KEY_STORE_FILE)].sort());
    expect(local.ephemeralKeys.get('fresh')).toEqual({ missing: true });
    const plan = computePlan(desiredState(state, { onionServices: [stored, fresh, own] }), liveState({ localFiles: local.localFiles, ephemeralKeys: local.ephemeralKeys }), { ...planCtx, uid: process.getuid!() });
    expect(plan.warnings.map((w) => w.message)).toEqual([expect.stringContaining(`key file ${path.join(keys, KEY_STORE_FILE)} is accessible to group or others (mode 0644)`)]);
  });

  it('keys address and keys export take a stored key by its path; a path nothing holds is still "no such file"', async () => {
    const { state, keys } = await stateDir('cli');
    const key = generateServiceKey();
    const file = path.join(keys, 'web.key');
    await createKeyFiles([{ file, key }], state);
    const address = await cliInProcess(['keys', 'address', file]);
    expect(address.stdout, address.stderr).toBe(`${key.address}.onion\n`);
    const exported = path.join(root, 'cli-exported');
    expect((await cliInProcess(['keys', 'export', file, exported])).stdout).toBe(`${key.address}.onion\n`);
    expect((await readFile(path.join(exported, 'hostname'), 'utf8')).trim()).toBe(`${key.address}.onion`);
    const missing = await cliInProcess(['keys', 'address', path.join(keys, 'nothing.key')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`${path.join(keys, 'nothing.key')}: no such file or directory`);
  });

  it('a new key goes to the store of its directory only inside the state directory, whatever was asked before', () => {
    expect(keyStoreFor('/s/keys/a.key', '/s')).toBe('/s/keys/keystore.json');
    expect(keyStoreFor('/s/keys/b.key', '/s')).toBe('/s/keys/keystore.json');
    expect(keyStoreFor('/s/keys/a.key', '/other')).toBeUndefined();
    expect(keyStoreFor('/s/keys/a.key', '/s/keys')).toBe('/s/keys/keystore.json');
    expect(keyStoreFor('/s/../t/keys/a.key', '/s')).toBeUndefined();
    expect(keyStoreFor('/own/web.key', '/s')).toBeUndefined();
  });
});
