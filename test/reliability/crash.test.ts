/**
 * Crash consistency: `apply` SIGKILLed right after each of its steps (TOR_RECONCILE_FAULT=after-step:N, read
 * by crash-hook.mjs preloaded into a real child process: the product has no fault path), then run again.
 * Whatever step it died after, the re-run must converge, and no onion address may be lost or changed: that
 * is the one thing a user cannot get back.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_STORE_FILE } from '../../src/reconcile/keystore.js';
import { loadKeyFile } from '../../src/reconcile/local.js';
import type { Plan } from '../../src/reconcile/types.js';
import { formatControlAddress } from '../../src/tor/address.js';
import { readTorKeyFiles } from '../../src/tor/onion/index.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';
import { assertFreshBuild, cli, cliChild, figures, FULL_SPEC_EPHEMERAL, FULL_SPEC_FS, isTempFile, mode, walk, writeFullSpec } from './helpers.js';

const FS = FULL_SPEC_FS;
const EPH = FULL_SPEC_EPHEMERAL;

interface Snapshot {
  /** Relative path → bytes (base64) of every key (its key store entry) and hostname that exists. */
  keys: Map<string, string>;
  /** Address each key file or service directory stands for. */
  addresses: Map<string, string>;
  detached: string[];
  tempFiles: string[];
  /** A key store, key file or directory with the wrong mode, or a key store or key that does not parse. */
  problems: string[];
}

async function snapshot(work: string, tor: TestTor): Promise<Snapshot> {
  const keys = new Map<string, string>();
  const addresses = new Map<string, string>();
  const problems: string[] = [];
  // Generated keys live in the key store alone (docs/keys.md): read here as its JSON, not through the product.
  const storeFile = path.join(work, 'state/keys', KEY_STORE_FILE);
  const storeText = await readFile(storeFile, 'utf8').catch(() => undefined);
  let stored: Record<string, string> = {};
  if (storeText !== undefined) {
    if ((await mode(storeFile)) !== 0o600) problems.push(`${KEY_STORE_FILE} mode ${(await mode(storeFile)).toString(8)}`);
    try {
      stored = (JSON.parse(storeText) as { keys: Record<string, string> }).keys;
    } catch (err) {
      problems.push(`${KEY_STORE_FILE} does not parse (half-written?): ${(err as Error).message}`);
    }
  }
  for (const name of EPH) {
    const file = path.join(work, 'state/keys', `${name}.key`);
    const entry = stored[`${name}.key`];
    if (entry === undefined) continue;
    keys.set(`state/keys/${name}.key`, Buffer.from(entry).toString('base64'));
    try {
      addresses.set(name, (await loadKeyFile(file)).address);
    } catch (err) {
      problems.push(`${name}.key does not parse (half-written?): ${(err as Error).message}`);
    }
  }
  for (const dir of FS) {
    const abs = path.join(work, dir);
    for (const f of ['hs_ed25519_secret_key', 'hs_ed25519_public_key', 'hostname']) {
      const bytes = await readFile(path.join(abs, f)).catch(() => undefined);
      if (bytes) keys.set(`${dir}/${f}`, bytes.toString('base64'));
    }
    const hostname = await readFile(path.join(abs, 'hostname'), 'utf8').catch(() => undefined);
    if (hostname !== undefined) {
      const key = await readTorKeyFiles(abs).catch((err: Error) => err);
      if (key instanceof Error) problems.push(`${dir}: ${key.message}`);
      else {
        addresses.set(dir, key.address);
        if (hostname.trim() !== `${key.address}.onion`) problems.push(`${dir}: hostname ${hostname.trim()} is not the key's ${key.address}`);
      }
    }
  }
  const files = await walk(work);
  for (const f of files) {
    const rel = path.relative(work, f);
    if ((rel === 'state' || rel === 'state/keys' || FS.includes(rel) || rel.endsWith('authorized_clients')) && (await mode(f)) !== 0o700) problems.push(`${rel} mode ${(await mode(f)).toString(8)}`);
  }
  const detached = (await tor.client.getInfo('onions/detached')).split('\n').filter(Boolean).sort();
  return { keys, addresses, detached, tempFiles: files.filter(isTempFile).map((f) => path.relative(work, f)), problems };
}

let template: string;
let remoteAddress: string;
let steps: Plan['steps'] = [];

/** The plan's steps, from `plan --json` against a fresh tor: how many faults to inject, and where. */
async function planSteps(): Promise<Plan['steps']> {
  const tor = await startTestTor();
  const work = await mkdtemp(path.join(os.tmpdir(), 'tr-crash-'));
  try {
    await cp(template, work, { recursive: true });
    const r = await cli(['plan', path.join(work, 'spec.yaml'), '--control', formatControlAddress(tor.controlAddress), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const plan = (JSON.parse(r.stdout) as { plan: Plan }).plan;
    expect(plan.errors).toEqual([]);
    return plan.steps;
  } finally {
    await tor.cleanup();
    await rm(work, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  assertFreshBuild();
  template = await mkdtemp(path.join(os.tmpdir(), 'tr-crash-tpl-'));
  ({ remoteAddress } = await writeFullSpec(template));
  steps = await planSteps();
});
afterAll(async () => {
  if (template) await rm(template, { recursive: true, force: true });
});

describe('crash consistency: apply SIGKILLed after every step, then run again', () => {
  it('the plan has a step of every kind the fault hook can interrupt', () => {
    expect(new Set(steps.map((s) => s.op))).toEqual(new Set(['generate-key', 'setconf', 'mkdir', 'write-file', 'add-onion', 'record-service', 'client-auth-add']));
  });

  it('for every N: killed after step N, the next apply converges and every onion address survives', async () => {
    expect(steps.length).toBeGreaterThan(10);
    const totals = { steps: steps.length, ops: steps.map((s) => s.op).join(','), faultsInjected: 0, killedBySigkill: 0, converged: 0, addressesChecked: 0, addressesChanged: 0, keysMissingOrBad: 0, tempFilesLeft: 0 };
    for (let n = 1; n <= steps.length; n++) {
      const step = `after step ${n}/${steps.length} (${steps[n - 1]!.op}: ${steps[n - 1]!.display})`;
      const tor = await startTestTor();
      const work = await mkdtemp(path.join(os.tmpdir(), 'tr-crash-'));
      try {
        await cp(template, work, { recursive: true });
        const spec = path.join(work, 'spec.yaml');
        const control = formatControlAddress(tor.controlAddress);

        const killed = await cliChild(['apply', spec, '--control', control], { env: { TOR_RECONCILE_FAULT: `after-step:${n}` } });
        totals.faultsInjected++;
        expect(killed.hung, step).toBe(false);
        expect(killed.signal, `${step}: the fault hook did not fire\n${killed.stderr}`).toBe('SIGKILL');
        totals.killedBySigkill++;
        // The child reported exactly n steps before dying: the kill came where it was asked for.
        expect(killed.stderr.match(/^\[\d+\/\d+\] /gm), step).toHaveLength(n);
        const atCrash = await snapshot(work, tor);
        expect(atCrash.problems, step).toEqual([]);
        expect(atCrash.tempFiles, step).toEqual([]);

        const again = await cli(['apply', spec, '--control', control]);
        expect(again.code, `${step}\n${again.stdout}${again.stderr}`).toBe(0);
        const check = await cli(['plan', spec, '--control', control, '--detailed-exitcode']);
        expect(check.code, `${step}\n${check.stdout}`).toBe(0);
        totals.converged++;

        const after = await snapshot(work, tor);
        totals.keysMissingOrBad += after.problems.length;
        totals.tempFilesLeft += after.tempFiles.length;
        expect(after.problems, step).toEqual([]);
        expect(after.tempFiles, step).toEqual([]);
        // Nothing that existed at the crash was replaced: same key bytes, same hostnames, same addresses.
        for (const [file, bytes] of atCrash.keys) expect(after.keys.get(file), `${step}: ${file} changed`).toBe(bytes);
        for (const [what, address] of atCrash.addresses) {
          totals.addressesChecked++;
          if (after.addresses.get(what) !== address) totals.addressesChanged++;
          expect(after.addresses.get(what), `${step}: ${what}`).toBe(address);
        }
        for (const a of atCrash.detached) expect(after.detached, `${step}: ${a} no longer served`).toContain(a);
        // And the end state is complete: every service has its key, and tor serves each ephemeral one.
        for (const name of EPH) expect(after.detached, `${step}: ${name}`).toContain(after.addresses.get(name));
        for (const dir of FS) expect(after.addresses.get(dir), `${step}: ${dir}`).toMatch(/^[a-z2-7]{56}$/);
        expect(after.detached).toHaveLength(EPH.length);
        expect((await tor.client.onionClientAuthView()).map((e) => e.address)).toEqual([remoteAddress]);
      } finally {
        await tor.cleanup();
        await rm(work, { recursive: true, force: true });
      }
    }
    figures('crash consistency', totals);
  }, 120_000);
});
