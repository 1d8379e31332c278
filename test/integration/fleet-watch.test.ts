/**
 * Issue #17, watch over several targets: one watcher per target (each its own connection and backoff), drift
 * on one target reverted on that target only, a target that goes down does not stop the other, and metrics
 * labelled per target. Two real tors (DisableNetwork 1).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderFleetMetrics } from '../../src/cli/views/fleet.js';
import { FleetWatcher } from '../../src/fleet/watch.js';
import { tableFor } from '../../src/reconcile/reconcile.js';
import type { WatchLogEntry } from '../../src/reconcile/watch.js';
import { loadSpec } from '../../src/spec/index.js';
import { formatControlAddress } from '../../src/tor/address.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';

let work: string;
let spec: string;
let a: TestTor;
let b: TestTor;
let watcher: FleetWatcher | undefined;
const logs: Array<[string, WatchLogEntry]> = [];

async function until(what: string, check: () => Promise<boolean> | boolean, timeout = 20_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${logs.map(([t, e]) => `[${t}] ${e.event}: ${e.message}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const dirtiness = async (t: TestTor) => (await t.client.getConf(['MaxCircuitDirtiness'])).get('MaxCircuitDirtiness')?.[0];

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-fleet-watch-'));
  [a, b] = await Promise.all([startTestTor(), startTestTor()]);
  spec = path.join(work, 'spec.yaml');
  await writeFile(
    spec,
    [
      'version: 1',
      'stateDirectory: ./state',
      'targets:',
      `  - { name: a, control: "${formatControlAddress(a.controlAddress)}" }`,
      `  - { name: b, control: "${formatControlAddress(b.controlAddress)}", options: { MaxCircuitDirtiness: 900 } }`,
      'options:',
      '  MaxCircuitDirtiness: 1200',
      '',
    ].join('\n'),
  );
}, 60_000);

afterAll(async () => {
  await watcher?.stop();
  await Promise.all([a?.cleanup(), b?.cleanup()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('watch across targets', () => {
  it('converges every target, reverts drift on the target it happened on, and keeps going when one goes down', async () => {
    const fleet = (await loadSpec([spec], { env: {} })).state;
    watcher = new FleetWatcher(fleet.targets!, {
      specFiles: [spec],
      debounceMs: 50,
      onionPollMs: 0,
      reconnect: { initialMs: 100, maxMs: 500 },
      table: tableFor,
      log: (t, e) => logs.push([t, e]),
      load: async (table) => (await loadSpec([spec], { env: {}, ...(table ? { table } : {}) })).state,
    });
    await watcher.start();
    expect(await dirtiness(a)).toBe('1200');
    expect(await dirtiness(b)).toBe('900');
    expect(watcher.health().ok).toBe(true);

    await b.client.setConf({ MaxCircuitDirtiness: '5' });
    await until('the drift on b reverted', async () => (await dirtiness(b)) === '900');
    expect(await dirtiness(a)).toBe('1200');
    const [wa, wb] = watcher.targets;
    expect(wb!.watcher.metrics.driftsReverted).toBeGreaterThanOrEqual(1);
    expect(wa!.watcher.metrics.driftsReverted).toBe(0);

    await a.stop();
    await until('a seen down', () => !watcher!.health().targets.a!.connected);
    expect(watcher.health().ok).toBe(false);
    await b.client.setConf({ MaxCircuitDirtiness: '6' });
    await until('b still reverted with a down', async () => (await dirtiness(b)) === '900');

    const metrics = renderFleetMetrics(watcher.targets.map((t) => ({ name: t.name, metrics: t.watcher.metrics })));
    expect(metrics).toContain('tor_reconcile_connected{target="a"} 0');
    expect(metrics).toContain('tor_reconcile_connected{target="b"} 1');
    expect(metrics).toMatch(/^tor_reconcile_reconciles_total\{target="b",result="ok"\} \d+$/m);
    expect(metrics.match(/^# TYPE tor_reconcile_connected gauge$/gm)).toHaveLength(1);
  }, 120_000);
});
