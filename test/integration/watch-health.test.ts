/**
 * watch's onion-service health against a real tor (DisableNetwork 1, not a test network): the self-check never
 * goes through the spec's own tor there, and a check through a SOCKS port that does not answer is reported
 * unreachable with the reason. The reachable case, uploads and intro points: test/e2e/health.test.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { renderMetrics } from '../../src/cli/views/metrics.js';
import { tableFor } from '../../src/reconcile/reconcile.js';
import { serviceStatus } from '../../src/reconcile/status.js';
import { Watcher, type WatchLogEntry, type WatchOptions } from '../../src/reconcile/watch.js';
import { loadSpec } from '../../src/spec/index.js';
import { formatControlAddress } from '../../src/tor/address.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';

let tor: TestTor;
let work: string;
const running: Watcher[] = [];

async function until<T>(what: string, probe: () => T | undefined, timeout = 30_000): Promise<T> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function watcher(name: string, health: WatchOptions['health'], specHealth = '') {
  const spec = path.join(work, `${name}.yaml`);
  await writeFile(spec, `version: 1\nstateDirectory: ./${name}-state\nonionServices:\n  - { name: web, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: 127.0.0.1:9000 }] }\n${specHealth}`);
  const logs: WatchLogEntry[] = [];
  const w = new Watcher({
    specFiles: [spec],
    control: formatControlAddress(tor.controlAddress),
    debounceMs: 20,
    table: tableFor,
    log: (e) => logs.push(e),
    load: async (table) => (await loadSpec([spec], { ...(table ? { table } : {}) })).state,
    ...(health ? { health } : {}),
  });
  running.push(w);
  await w.start();
  return { w, logs };
}

beforeAll(async () => {
  tor = await startTestTor();
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-watch-health-'));
});
afterEach(async () => {
  for (const w of running.splice(0)) await w.stop();
});
afterAll(async () => {
  await tor?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('watch onion-service health', () => {
  it('refuses to self-check through the spec’s own tor outside a test network, and says why', async () => {
    const { w, logs } = await watcher('own', { checkIntervalMs: 100, introPollMs: 100 });
    const refused = await until('the refusal', () => logs.find((l) => l.event === 'onion-health' && l.level === 'error'));
    expect(refused.message).toMatch(/self-check not run: on the public network .* give --check-socks/);
    const report = w.onionHealth();
    expect(report.checks).toMatch(/^on the public network/);
    // The address of the generated key and an intro-point count (0: DisableNetwork) are there all the same.
    await until('the intro-point count', () => (w.onionHealth().services[0]!.introPoints === 0 ? true : undefined));
    expect(w.onionHealth().services[0]).toMatchObject({ service: 'web', address: expect.stringMatching(/^[a-z2-7]{56}$/), check: null, introPoints: 0 });
    expect(renderMetrics(w.metrics, w.onionHealth())).toMatch(/^tor_reconcile_onion_check_enabled\{target="[^"]+"\} 0$/m);
    // Logged once, not at every interval.
    await new Promise((r) => setTimeout(r, 400));
    expect(logs.filter((l) => l.event === 'onion-health' && l.level === 'error')).toHaveLength(1);
  });

  it('reports a service unreachable, with the reason, when the SOCKS port the spec names does not answer', async () => {
    // A port that accepts and closes at once: no SOCKS reply.
    const dead = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    try {
      const socks = `127.0.0.1:${(dead.address() as net.AddressInfo).port}`;
      // The spec's health.check, with the timeout from the flags.
      const { w, logs } = await watcher('dead', { checkTimeoutMs: 5_000 }, `health:\n  check: { socks: "${socks}", intervalSeconds: 1 }\n`);
      const check = await until('a failed check', () => w.onionHealth().services[0]!.check ?? undefined);
      expect(check).toMatchObject({ ok: false, error: expect.any(String) });
      expect(w.onionHealth().checks).toBe('on');
      expect(logs.some((l) => l.event === 'onion-health' && l.message.includes(`web unreachable through ${socks}`))).toBe(true);
      const metrics = renderMetrics(w.metrics, w.onionHealth());
      expect(metrics).toMatch(/^tor_reconcile_onion_reachable\{service="web",target="[^"]+"\} 0$/m);
      expect(metrics).toMatch(/^tor_reconcile_onion_checks_total\{service="web",target="[^"]+",result="error"\} [1-9]/m);
      expect(metrics).not.toMatch(/^tor_reconcile_onion_check_latency_seconds\{/m);

      // status --watch at a port where no watch listens: the status is still given, and says so.
      const spec = path.join(work, 'dead.yaml');
      const status = await serviceStatus([spec], { control: formatControlAddress(tor.controlAddress), watch: socks });
      expect(status.services.map((s) => [s.name, s.running, s.health])).toEqual([['web', true, undefined]]);
      expect(status.watch).toMatchObject({ url: `http://${socks}/onions`, error: expect.any(String) });
    } finally {
      await new Promise((r) => dead.close(r));
    }
  });
});
