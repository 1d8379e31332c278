/**
 * Soak: watch mode for a long time under a fighting controller and spec churn — memory flat, no missed drift,
 * nothing piling up. Its length comes from TOR_RECONCILE_SOAK_SECONDS: 20 s in `npm test`, 600 from
 * `npm run soak`.
 *
 * The fighter is a second controller that, every 300 ms, undoes one managed thing at random: an option, the
 * HiddenService block, or an ephemeral service. Every 2 s the spec is rewritten (rename-on-save), every fourth
 * time invalid. A drift is "missed" if tor still differs from the spec in force once the fighter has stopped
 * and a resync interval (plus a reconcile) has passed.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tableFor } from '../../src/reconcile/reconcile.js';
import { readLiveState } from '../../src/reconcile/live.js';
import { computePlan } from '../../src/reconcile/plan.js';
import { Watcher } from '../../src/reconcile/watch.js';
import { loadSpec } from '../../src/spec/index.js';
import { formatControlAddress } from '../../src/tor/address.js';
import { connect, type TorClient } from '../../src/tor/client.js';
import { OptionTable } from '../../src/tor/config/types.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';
import { figures } from './helpers.js';

const SECONDS = Number(process.env.TOR_RECONCILE_SOAK_SECONDS ?? 20);

let tor: TestTor;
let fighter: TorClient;
let dir: string;

beforeAll(async () => {
  tor = await startTestTor();
  fighter = await connect({ control: tor.controlAddress });
  dir = await mkdtemp(path.join(os.tmpdir(), 'tr-soak-'));
});
afterAll(async () => {
  await fighter?.close();
  await tor?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

function spec(version: number): string {
  return [
    'version: 1',
    'options:',
    `  ContactInfo: soak-${version}@example.org`,
    `  NumEntryGuards: ${2 + (version % 3)}`,
    '  MaxCircuitDirtiness: 10 minutes',
    'onionServices:',
    `  - { name: web, type: filesystem, directory: ./hs/web, ports: [{ port: ${80 + (version % 2)}, target: 127.0.0.1:8080 }] }`,
    '  - { name: api, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: 127.0.0.1:9000 }] }',
    '',
  ].join('\n');
}

describe('soak: watch mode under a fighting controller and spec churn', () => {
  it(`stays flat and misses nothing for ${SECONDS} s`, async () => {
    const file = path.join(dir, 'spec.yaml');
    await writeFile(file, spec(0));
    const watcher = new Watcher({
      specFiles: [file],
      control: formatControlAddress(tor.controlAddress),
      debounceMs: 50,
      resyncMs: 2_000,
      // Conflicts back off for up to 4 s so that the test's settling time covers the longest wait.
      conflict: { backoffMs: 500, maxBackoffMs: 4_000 },
      table: tableFor,
      log: () => {},
      load: async (table) => (await loadSpec([file], table ? { table } : {})).state,
    });
    await watcher.start();
    // Planned at another address than the watcher's on purpose: records belong to the tor, not to its address.
    const ctx = { table: OptionTable.bundled(), target: 'soak', uid: process.getuid!() };

    const gc = (globalThis as { gc?: () => void }).gc;
    const samples: Array<{ t: number; rss: number; heap: number; inFlight: number }> = [];
    let fights = 0;
    let edits = 0;
    let invalid = 0;
    let version = 0;
    const started = Date.now();
    const fight = setInterval(() => {
      fights++;
      const r = Math.random();
      const undo =
        r < 0.5
          ? fighter.setConf({ ContactInfo: `fighter-${fights}` })
          : r < 0.7
            ? fighter.resetConf(['HiddenServiceDir'])
            : fighter.getInfo('onions/detached').then((ids) => Promise.all(ids.split('\n').filter(Boolean).map((id) => fighter.delOnion(id))));
      undo.catch(() => {});
    }, 300);
    const churn = setInterval(() => {
      edits++;
      const tmp = path.join(dir, '.spec.yaml.tmp');
      const bad = edits % 4 === 0;
      if (bad) invalid++;
      else version++;
      void writeFile(tmp, bad ? 'version: 1\noptions: [unclosed\n' : spec(version)).then(() => rename(tmp, file));
    }, 2_000);
    const sampler = setInterval(() => {
      gc?.();
      const m = process.memoryUsage();
      samples.push({ t: Date.now() - started, rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20, inFlight: watcher.client?.connection.inFlight ?? 0 });
    }, 1_000);

    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    clearInterval(fight);
    clearInterval(churn);
    clearInterval(sampler);
    // Settle: the last edit lands, backoffs expire, a resync runs.
    await new Promise((r) => setTimeout(r, 7_000));
    await watcher.idle();
    const desired = watcher.desired;
    const left = computePlan(desired, await readLiveState(tor.client, desired), ctx);
    const missed = left.changes.filter((c) => c.action !== 'noop' && !c.needsRestart);
    await watcher.stop();

    const half = samples.slice(Math.floor(samples.length / 2));
    const slope = (k: 'rss' | 'heap') => (half.length > 1 ? (half.at(-1)![k] - half[0]![k]) / ((half.at(-1)!.t - half[0]!.t) / 60_000) : 0);
    const m = watcher.metrics;
    figures('soak', {
      seconds: SECONDS,
      fights,
      specEdits: edits,
      invalidEdits: invalid,
      reconcilesOk: m.reconciles.ok,
      reconcileErrors: m.reconciles.error,
      driftsDetected: m.driftsDetected,
      driftsReverted: m.driftsReverted,
      conflicts: m.conflicts,
      specReloadErrors: m.specReloads.error,
      missedDrifts: missed.length,
      maxInFlight: Math.max(...samples.map((s) => s.inFlight)),
      rssStartMB: samples[0]?.rss.toFixed(1) ?? '?',
      rssEndMB: samples.at(-1)?.rss.toFixed(1) ?? '?',
      rssSlopeMBperMin: slope('rss').toFixed(2),
      heapSlopeMBperMin: slope('heap').toFixed(2),
    });
    expect(missed.map((c) => `${c.kind}:${c.id} ${c.reason}`)).toEqual([]);
    expect(m.driftsReverted).toBeGreaterThan(0);
    expect(m.specReloads.error).toBe(invalid);
    expect(Math.max(...samples.map((s) => s.inFlight))).toBeLessThan(50);
    // Flat: heap growth in the second half well under a megabyte a minute (a leak per reconcile would show).
    if (SECONDS >= 60) expect(slope('heap')).toBeLessThan(1);
  }, (SECONDS + 60) * 1000);
});
