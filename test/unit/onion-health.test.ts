/**
 * The pure parts of watch's onion-service health: which HS_DESC events are uploads (and which FAILED is a
 * fetch's), the introduction-point count from circuit-status, and the Prometheus exposition of the report.
 * The whole, against real tors and a real Prometheus: test/e2e/health.test.ts.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renderMetrics } from '../../src/cli/views/metrics.js';
import { countIntroPoints, OnionHealth } from '../../src/reconcile/watch/onion-health.js';
import type { WatchLogEntry, WatchMetrics } from '../../src/reconcile/watch.js';
import { isEvent, parseEvent, type HsDescEvent } from '../../src/tor/events.js';
import { loadSpecSources } from '../../src/spec/index.js';
import type { DesiredState } from '../../src/spec/model.js';
import { desiredState, fsService } from '../helpers/desired.js';

const A = 'qdmdvcg5kmlkr4raltheaklk3axt6ygpwnhbvg3lzrgtx2ghm2wl6uid';
const B = 'azp6neul2y32bpu3cqjppcxnvfg5mt3yiiun5uosbl3jfcja2bbi3rqd';
const FP1 = '$9695DFC35FFEB861329B9F1AB04C46397020CE31~hsdir1';
const FP2 = '$A1B2C3D4E5F60718293A4B5C6D7E8F9012345678~hsdir2';
const BLINDED = 'B2RIJCRLvW2kpTHrJIBZPMrASWMu1Dl9S9jQY/jtIg8';

function hsDesc(text: string): HsDescEvent {
  const e = parseEvent({ code: 650, lines: [{ code: 650, sep: ' ', text }] });
  if (!isEvent(e, 'HS_DESC')) throw new Error(`not HS_DESC: ${text}`);
  return e;
}

const circ = (id: number, state: string, address: string, status = 'BUILT') =>
  `${id} ${status} $AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA~r1,$BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB~r2 BUILD_FLAGS=IS_INTERNAL,NEED_CAPACITY,NEED_UPTIME PURPOSE=HS_SERVICE_INTRO HS_STATE=${state} REND_QUERY=${address} TIME_CREATED=2026-12-05T07:20:01.000000`;

describe('countIntroPoints', () => {
  it('counts built, established intro circuits per address, and 0 for a known address without any', () => {
    const status = [
      circ(1, 'HSSI_ESTABLISHED', A),
      circ(2, 'HSSI_ESTABLISHED', A),
      circ(3, 'HSSI_CONNECTING', A),
      circ(4, 'HSSI_ESTABLISHED', A, 'EXTENDED'),
      '5 BUILT $AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA~r1 BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL TIME_CREATED=2026-12-05T07:20:01.000000',
      `6 BUILT $AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA~r1 PURPOSE=HS_SERVICE_REND HS_STATE=HSSR_JOINED REND_QUERY=${B}`,
    ].join('\n');
    expect(countIntroPoints(status, [A, B])).toEqual(new Map([[A, 2], [B, 0]]));
    expect(countIntroPoints('', [A])).toEqual(new Map([[A, 0]]));
  });
});

describe('OnionHealth', () => {
  let dir: string | undefined;
  let health: OnionHealth | undefined;
  afterEach(async () => {
    await health?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function started(): Promise<{ health: OnionHealth; logs: WatchLogEntry[] }> {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tr-health-unit-'));
    await mkdir(path.join(dir, 'web'));
    await writeFile(path.join(dir, 'web', 'hostname'), `${A}.onion\n`);
    const desired = desiredState(dir, { onionServices: [fsService('web', path.join(dir, 'web'), [[80, '127.0.0.1:8080']])] });
    const logs: WatchLogEntry[] = [];
    const h = new OnionHealth({ introPollMs: 60_000 }, { desired: () => desired, client: () => undefined, target: () => 'unix:/run/tor/control', log: (level, event, message) => logs.push({ level, event, message }) });
    health = h;
    h.start();
    // The first poll reads the service's address from its hostname file (no tor needed for that).
    for (let i = 0; i < 100 && h.report().services[0]!.address === null; i++) await new Promise((r) => setTimeout(r, 10));
    return { health: h, logs };
  }

  it('counts uploads per HSDir; a FAILED without an upload in flight to that HSDir is a fetch, not an upload', async () => {
    const { health: h, logs } = await started();
    expect(h.report().services[0]).toMatchObject({ service: 'web', address: A, uploads: { attempts: 0, uploaded: 0, failed: 0 }, lastUpload: null, introPoints: null, check: null });
    const before = Date.now();
    h.onHsDesc(hsDesc(`HS_DESC UPLOAD ${A} UNKNOWN ${FP1} ${BLINDED} HSDIR_INDEX=6C7F0A`));
    h.onHsDesc(hsDesc(`HS_DESC UPLOAD ${A} UNKNOWN ${FP2} ${BLINDED} HSDIR_INDEX=7D8E0B`));
    h.onHsDesc(hsDesc(`HS_DESC UPLOADED ${A} UNKNOWN ${FP1}`));
    h.onHsDesc(hsDesc(`HS_DESC FAILED ${A} UNKNOWN ${FP2} REASON=UPLOAD_REJECTED`));
    // A client-side fetch failure for the same address, and a second answer from an HSDir already done.
    h.onHsDesc(hsDesc(`HS_DESC FAILED ${A} NO_AUTH UNKNOWN ${BLINDED} REASON=QUERY_NO_HSDIR`));
    h.onHsDesc(hsDesc(`HS_DESC UPLOADED ${A} UNKNOWN ${FP1}`));
    // Another tor's service, not declared.
    h.onHsDesc(hsDesc(`HS_DESC UPLOAD ${B} UNKNOWN ${FP1} ${BLINDED}`));
    const s = h.report().services[0]!;
    expect(s.uploads).toEqual({ attempts: 2, uploaded: 1, failed: 1 });
    expect(s.lastUpload).toBeGreaterThanOrEqual(before);
    expect(h.report()).toMatchObject({ target: 'unix:/run/tor/control', checks: 'off' });
    expect(logs.map((l) => l.message)).toEqual([`descriptor upload of ${A}.onion to hsdir2 failed: UPLOAD_REJECTED`]);
  });

  it('exports stable names with the service and target labels', async () => {
    const { health: h } = await started();
    h.onHsDesc(hsDesc(`HS_DESC UPLOAD ${A} UNKNOWN ${FP1} ${BLINDED}`));
    h.onHsDesc(hsDesc(`HS_DESC UPLOADED ${A} UNKNOWN ${FP1}`));
    const metrics: WatchMetrics = { reconciles: { ok: 1, error: 0 }, driftsDetected: 0, driftsReverted: 0, conflicts: 0, errors: 0, specReloads: { ok: 0, error: 0 }, reconnects: 0, lastSuccess: 1, onionServicesUp: 1, connected: true, specValid: true };
    const text = renderMetrics(metrics, h.report());
    const labels = '{service="web",target="unix:/run/tor/control"';
    expect(text).toContain(`tor_reconcile_onion_descriptor_upload_attempts_total${labels}} 1\n`);
    expect(text).toContain(`tor_reconcile_onion_descriptor_uploads_total${labels},result="uploaded"} 1\n`);
    expect(text).toContain(`tor_reconcile_onion_descriptor_uploads_total${labels},result="failed"} 0\n`);
    expect(text).toMatch(new RegExp(`tor_reconcile_onion_descriptor_last_upload_timestamp_seconds\\${labels}\\} 1\\d{9}\\.\\d+\\n`));
    expect(text).toContain(`tor_reconcile_onion_service_info${labels},address="${A}.onion"} 1\n`);
    expect(text).toContain('tor_reconcile_onion_check_enabled{target="unix:/run/tor/control"} 0\n');
    // No self-check has run: no sample (an alert on `== 0` must not fire on a missing check).
    expect(text).not.toMatch(/^tor_reconcile_onion_reachable\{/m);
    expect(text).not.toMatch(/^tor_reconcile_onion_intro_points\{/m);
    expect(renderMetrics(metrics, { target: 'a"b\\c', since: 0, checks: 'off', services: [] })).toContain('tor_reconcile_onion_check_enabled{target="a\\"b\\\\c"} 0\n');
  });
});

describe('health.check in the spec, and the flags over it', () => {
  const load = async (text: string) => (await loadSpecSources([{ name: 'spec.yaml', text, path: '/srv/spec.yaml' }])).state;
  const checks = (desired: DesiredState, flags = {}) => new OnionHealth(flags, { desired: () => desired, client: () => undefined, target: () => undefined, log: () => {} }).report().checks;
  const service = 'onionServices:\n  - { name: web, type: filesystem, directory: /var/lib/tor/web, ports: [{ port: 80 }] }\n';

  it('reads socks, intervalSeconds and timeoutSeconds, with their positions', async () => {
    const state = await load(`version: 1\n${service}health:\n  check: { socks: "127.0.0.1:9150", intervalSeconds: 120, timeoutSeconds: 30 }\n`);
    expect(state.health).toEqual({ check: { socks: '127.0.0.1:9150', intervalMs: 120_000, timeoutMs: 30_000, source: { file: 'spec.yaml', line: 5, col: 3 } } });
    expect((await load(`version: 1\n${service}`)).health).toBeUndefined();
  });

  it('refuses what is not HOST:PORT, a negative interval and unknown keys', async () => {
    await expect(load('version: 1\nhealth:\n  check: { socks: "9150", intervalSeconds: -1, every: 5 }\n')).rejects.toThrow(
      /health\.check\.socks: expected HOST:PORT[\s\S]*intervalSeconds must be at least 0[\s\S]*unknown key "every"/,
    );
  });

  it('checks are off without a SOCKS port or an interval; a SOCKS port alone turns them on; a flag wins over the spec', async () => {
    expect(checks(await load(`version: 1\n${service}`))).toBe('off');
    const named = await load(`version: 1\n${service}health:\n  check: { socks: "127.0.0.1:9150" }\n`);
    expect(checks(named)).toBe('on');
    expect(checks(named, { checkIntervalMs: 0 })).toBe('off');
    expect(checks(await load(`version: 1\n${service}health:\n  check: { intervalSeconds: 0 }\n`), { checkSocks: '127.0.0.1:9150' })).toBe('off');
    expect(checks(await load(`version: 1\n${service}`), { checkSocks: '127.0.0.1:9150' })).toBe('on');
  });
});
