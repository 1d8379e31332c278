import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tableFor } from '../../src/reconcile/reconcile.js';
import { renderMetrics } from '../../src/cli/views/metrics.js';
import { loadKeyFile } from '../../src/reconcile/local.js';
import { Watcher, type WatchLogEntry, type WatchOptions } from '../../src/reconcile/watch.js';
import { loadSpec } from '../../src/spec/index.js';
import { formatControlAddress } from '../../src/tor/address.js';
import { connect, type TorClient } from '../../src/tor/client.js';
import { launch } from '../../src/tor/launch.js';
import { offlineLaunch } from '../helpers/offline.mjs';
import { startTestTor, type TestTor } from '../helpers/tor.js';

const root = path.join(import.meta.dirname, '../..');
let tor: TestTor;
let control: string;
let work: string;
let other: TorClient;
const running: Watcher[] = [];

async function until(what: string, check: () => Promise<boolean> | boolean, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function contact(c: TorClient = tor.client): Promise<string | undefined> {
  return (await c.getConf(['ContactInfo'])).get('ContactInfo')?.[0];
}

async function writeSpec(file: string, body: string): Promise<void> {
  await writeFile(file, `version: 1\n${body}`);
}

async function watcher(spec: string, extra: Partial<WatchOptions> = {}) {
  const logs: WatchLogEntry[] = [];
  const w = new Watcher({
    specFiles: [spec],
    control,
    debounceMs: 20,
    table: tableFor,
    log: (e) => logs.push(e),
    load: async (table) => (await loadSpec([spec], { ...(table ? { table } : {}) })).state,
    ...extra,
  });
  running.push(w);
  await w.start();
  const sent: string[] = [];
  w.client!.connection.onCommand((c) => sent.push(c.display));
  return { w, logs, sent };
}

beforeAll(async () => {
  tor = await startTestTor();
  control = formatControlAddress(tor.controlAddress);
  other = await connect({ control: tor.controlAddress });
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-watch-'));
});
afterEach(async () => {
  for (const w of running.splice(0)) await w.stop();
});
afterAll(async () => {
  await other?.close();
  await tor?.cleanup();
  await rm(work, { recursive: true, force: true });
});

describe('watch', () => {
  it('reverts drift by another controller and reports it', async () => {
    const spec = path.join(work, 'drift.yaml');
    await writeSpec(spec, 'options:\n  ContactInfo: spec@example.org\n');
    const { w, logs } = await watcher(spec);
    expect(await contact()).toBe('spec@example.org');
    await other.setConf({ ContactInfo: 'drifted' });
    await until('the revert', async () => (await contact()) === 'spec@example.org');
    await until('the log line', () => logs.some((l) => l.event === 'reconcile' && /reverted drift: update option ContactInfo/.test(l.message)));
    expect(w.metrics.driftsReverted).toBe(1);
  });

  it('in warn mode reports drift and writes nothing', async () => {
    const spec = path.join(work, 'warn.yaml');
    await writeSpec(spec, 'options:\n  ContactInfo: warned@example.org\n');
    await other.setConf({ ContactInfo: 'someone-else' });
    const { w, logs, sent } = await watcher(spec, { mode: 'warn' });
    await other.setConf({ ContactInfo: 'someone-else-again' });
    await until('the drift report', () => logs.filter((l) => l.event === 'drift').length >= 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(await contact()).toBe('someone-else-again');
    expect(sent.filter((c) => !/^(GETCONF|GETINFO|SETEVENTS)/.test(c))).toEqual([]);
    expect(w.health().ok).toBe(false);
  });

  it('does not chase its own writes', async () => {
    const spec = path.join(work, 'own.yaml');
    await writeSpec(spec, 'options:\n  ContactInfo: own@example.org\n  NumEntryGuards: 2\n');
    const { w, sent } = await watcher(spec);
    const reconciles = w.metrics.reconciles.ok;
    await writeSpec(spec, 'options:\n  ContactInfo: own-2@example.org\n  NumEntryGuards: 3\n');
    await until('the spec change applied', async () => (await contact()) === 'own-2@example.org');
    await new Promise((r) => setTimeout(r, 300));
    await w.idle();
    expect(sent.filter((c) => c.startsWith('SETCONF'))).toHaveLength(1);
    // One reconcile for the spec change; the CONF_CHANGED echo of our SETCONF caused none.
    expect(w.metrics.reconciles.ok).toBe(reconciles + 1);
  });

  // With the resync ten minutes away, only the CONF_CHANGED path can catch these within the deadline.
  it('reverts another controller changing an option a native attach policy compiles to', async () => {
    const spec = path.join(work, 'attach-native.yaml');
    await writeSpec(spec, 'attach:\n  policies:\n    - { name: all, circuit: { exitCountry: CH } }\n  default: tor\n');
    const { w } = await watcher(spec, { resyncMs: 600_000 });
    const exitNodes = async () => (await tor.client.getConf(['ExitNodes'])).get('ExitNodes')?.[0];
    expect(await exitNodes()).toBe('{ch}');
    await other.setConf({ ExitNodes: '{de}' });
    await until('the revert', async () => (await exitNodes()) === '{ch}', 5_000);
    expect(w.metrics.driftsReverted).toBe(1);
    await w.stop();
    await other.resetConf(['ExitNodes', 'StrictNodes']);
  });

  it('restores a filesystem onion service another controller dropped', async () => {
    const spec = path.join(work, 'hs-dropped.yaml');
    const dir = path.join(work, 'hs-dropped/web');
    await writeSpec(spec, `onionServices:\n  - { name: web, type: filesystem, directory: ${dir}, ports: [{ port: 80, target: 127.0.0.1:8080 }] }\n`);
    const { w } = await watcher(spec, { resyncMs: 600_000 });
    const serviceDirs = async () => (await tor.client.getConfEntries(['HiddenServiceOptions'])).filter(([k]) => k === 'HiddenServiceDir').map(([, v]) => v);
    expect(await serviceDirs()).toEqual([dir]);
    await other.resetConf(['HiddenServiceDir']);
    expect(await serviceDirs()).toEqual([]);
    await until('the block restored', async () => (await serviceDirs()).length === 1, 5_000);
    expect(await serviceDirs()).toEqual([dir]);
    expect(w.metrics.driftsReverted).toBe(1);
    await w.stop();
    await other.resetConf(['HiddenServiceDir']);
  });

  // Tor sends no event for another controller's DEL_ONION: with the resync ten minutes away, only the poll finds it.
  it('restores an ephemeral service another controller deleted, within the poll interval', async () => {
    const spec = path.join(work, 'onion-poll.yaml');
    await writeSpec(spec, 'stateDirectory: ./onion-poll-state\nonionServices:\n  - { name: api, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: 127.0.0.1:9000 }] }\n');
    const { w, logs, sent } = await watcher(spec, { resyncMs: 600_000, onionPollMs: 300 });
    const address = (await loadKeyFile(path.join(work, 'onion-poll-state/keys/api.key'))).address;
    const detached = async () => (await other.getInfo('onions/detached')).split('\n');
    expect(await detached()).toContain(address);
    // While tor matches, the poll is one GETINFO and nothing else.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(sent.length).toBeGreaterThanOrEqual(2);
    expect(new Set(sent)).toEqual(new Set(['GETINFO onions/detached']));

    await other.delOnion(address);
    const deleted = Date.now();
    await until('the service restored', async () => (await detached()).includes(address), 5_000);
    console.log(`DEL_ONION by another controller → restored in ${Date.now() - deleted} ms (poll every 300 ms)`);
    // The interval, plus one reconcile on a loaded machine.
    expect(Date.now() - deleted).toBeLessThan(300 + 2_000);
    expect(logs.some((l) => l.event === 'onion-poll' && l.message.includes(`${address}.onion`))).toBe(true);
    // tor runs the service again before the reconcile has recorded it and counted the revert.
    await w.idle();
    expect(w.metrics.driftsReverted).toBe(1);
    // Deleted again at once, before any poll saw it restored: still news.
    await other.delOnion(address);
    await until('the service restored again', async () => (await detached()).includes(address), 5_000);
    await w.idle();
    expect(w.metrics.driftsReverted).toBe(2);
  });

  it('reports a deleted ephemeral service once in warn mode, not at every poll', async () => {
    const spec = path.join(work, 'onion-poll-warn.yaml');
    await writeSpec(spec, 'stateDirectory: ./onion-poll-warn-state\nonionServices:\n  - { name: api, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: 127.0.0.1:9001 }] }\n');
    // Created by an enforcing watch, then watched in warn mode.
    const first = await watcher(spec);
    await first.w.stop();
    const address = (await loadKeyFile(path.join(work, 'onion-poll-warn-state/keys/api.key'))).address;
    const { logs } = await watcher(spec, { mode: 'warn', resyncMs: 600_000, onionPollMs: 100 });
    await other.delOnion(address);
    await until('the drift report', () => logs.some((l) => l.event === 'drift'));
    await new Promise((r) => setTimeout(r, 1_000));
    expect(logs.filter((l) => l.event === 'onion-poll')).toHaveLength(1);
    expect(logs.filter((l) => l.event === 'drift')).toHaveLength(1);
    expect(await other.getInfo('onions/detached')).not.toContain(address);
  });

  it('reports an invalid spec on disk in its health, and valid again once the spec in force is back', async () => {
    const spec = path.join(work, 'health-spec.yaml');
    const good = 'options:\n  ContactInfo: health@example.org\n';
    await writeSpec(spec, good);
    const { w } = await watcher(spec);
    expect(w.health()).toMatchObject({ ok: true, specValid: true });
    expect(w.health().specError).toBeUndefined();
    await writeSpec(spec, 'options:\n  ContactInfo: health@example.org\n  NumEntryGuardz: 2\n');
    await until('the invalid spec noticed', () => !w.health().specValid);
    // Still enforcing the last good spec, and saying so.
    expect(w.health()).toMatchObject({ ok: true, specValid: false, specInForce: 'the last good spec' });
    expect(w.health().specError).toMatch(/health-spec\.yaml:4:3: unknown tor option "NumEntryGuardz"/);
    expect(renderMetrics(w.metrics)).toMatch(/^tor_reconcile_spec_valid 0$/m);
    // Back to exactly the content in force: nothing to reload, but the spec on disk is valid again.
    await writeSpec(spec, good);
    await until('the spec valid again', () => w.health().specValid);
    expect(w.health().specError).toBeUndefined();
    expect(renderMetrics(w.metrics)).toMatch(/^tor_reconcile_spec_valid 1$/m);
  });

  it('backs off and reports a conflict against a controller that keeps flipping a key', async () => {
    const spec = path.join(work, 'fight.yaml');
    await writeSpec(spec, 'options:\n  ContactInfo: mine@example.org\n');
    const { w, logs, sent } = await watcher(spec);
    const until5s = Date.now() + 5000;
    let i = 0;
    while (Date.now() < until5s) {
      await other.setConf({ ContactInfo: `theirs-${i++}` });
      await new Promise((r) => setTimeout(r, 50));
    }
    const reverts = sent.filter((c) => c.startsWith('SETCONF')).length;
    console.log(`fighting controller: ${i} flips in 5 s, ${reverts} reverts, ${w.metrics.conflicts} conflict reports`);
    expect(i).toBeGreaterThan(50);
    expect(reverts).toBeGreaterThan(0);
    expect(reverts).toBeLessThanOrEqual(12);
    expect(w.metrics.conflicts).toBeGreaterThan(0);
    expect(logs.find((l) => l.event === 'conflict')!.message).toMatch(/^option:ContactInfo: another controller keeps changing it/);
  }, 20_000);

  // A tor that already matches makes the first reconcile, and so start(), quick: the spec watch must be in place.
  it('follows a spec edit made as soon as start() resolves', async () => {
    const spec = path.join(work, 'early.yaml');
    await writeSpec(spec, 'options:\n  ContactInfo: early-1@example.org\n');
    await other.setConf({ ContactInfo: 'early-1@example.org' });
    await watcher(spec);
    await writeSpec(spec, 'options:\n  ContactInfo: early-2@example.org\n');
    await until('the edit applied', async () => (await contact()) === 'early-2@example.org', 5_000);
  });

  it('picks up a spec replaced by rename, keeps the last good spec when an edit is invalid', async () => {
    const dir = await mkdtemp(path.join(work, 'rename-'));
    const spec = path.join(dir, 'spec.yaml');
    await writeSpec(spec, 'options:\n  ContactInfo: v1@example.org\n');
    const { w, logs } = await watcher(spec);
    await writeSpec(path.join(dir, '.spec.yaml.swp'), 'options:\n  ContactInfo: v2@example.org\n');
    await rename(path.join(dir, '.spec.yaml.swp'), spec);
    await until('v2', async () => (await contact()) === 'v2@example.org');

    await writeFile(spec, 'version: 1\noptions:\n  ContactInfo: [unclosed\n');
    await until('the invalid spec to be reported', () => logs.some((l) => l.event === 'spec' && l.level === 'error'));
    expect(logs.find((l) => l.event === 'spec' && l.level === 'error')!.message).toMatch(/last good spec stays in force[\s\S]*spec\.yaml:\d+:\d+/);
    // The old spec is still enforced.
    await other.setConf({ ContactInfo: 'drift-after-bad-edit' });
    await until('revert to v2', async () => (await contact()) === 'v2@example.org');
    expect(w.metrics.specReloads.error).toBeGreaterThan(0);
  });

  it('picks up a Kubernetes ConfigMap ..data symlink swap', async () => {
    const dir = await mkdtemp(path.join(work, 'configmap-'));
    await mkdir(path.join(dir, '..2026_01'));
    await writeSpec(path.join(dir, '..2026_01/spec.yaml'), 'options:\n  ContactInfo: cm-1@example.org\n');
    await symlink('..2026_01', path.join(dir, '..data'));
    await symlink('..data/spec.yaml', path.join(dir, 'spec.yaml'));
    await watcher(path.join(dir, 'spec.yaml'));
    expect(await contact()).toBe('cm-1@example.org');
    // What the kubelet does: a new timestamped directory, a new ..data link renamed over the old one.
    await mkdir(path.join(dir, '..2026_02'));
    await writeSpec(path.join(dir, '..2026_02/spec.yaml'), 'options:\n  ContactInfo: cm-2@example.org\n');
    await symlink('..2026_02', path.join(dir, '..data_tmp'));
    await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    await rm(path.join(dir, '..2026_01'), { recursive: true });
    await until('cm-2', async () => (await contact()) === 'cm-2@example.org');
  });

  it('repairs a SIGHUP that reverts control-port settings to the torrc', async () => {
    const spec = path.join(work, 'hup.yaml');
    await writeSpec(spec, 'options:\n  ContactInfo: hup@example.org\n');
    const { w } = await watcher(spec);
    const before = w.metrics.driftsReverted;
    process.kill(tor.pid, 'SIGHUP');
    await until('the repair', async () => w.metrics.driftsReverted > before && (await contact()) === 'hup@example.org');
  });

  it('runs the attach engine while the spec has policies tor cannot enforce, and stops it when an edit drops them', async () => {
    const spec = path.join(work, 'attach-live.yaml');
    await writeSpec(spec, 'attach:\n  policies:\n    - { name: no-blocked, match: { host: blocked.test }, action: reject }\n  default: reject\n');
    const { w } = await watcher(spec);
    const unattached = async () => (await tor.client.getConf(['__LeaveStreamsUnattached'])).get('__LeaveStreamsUnattached')?.[0];
    expect(w.attachEngine).toBeDefined();
    expect(await unattached()).toBe('1');
    await writeSpec(spec, 'options:\n  ContactInfo: attach-live@example.org\n');
    await until('the engine stopped', async () => w.attachEngine === undefined && (await unattached()) === '0');
  });

  it('serves metrics in Prometheus text format', async () => {
    const spec = path.join(work, 'metrics.yaml');
    await writeSpec(spec, 'options:\n  ContactInfo: metrics@example.org\n');
    const { w } = await watcher(spec);
    const text = renderMetrics(w.metrics);
    for (const line of text.trim().split('\n')) {
      expect(line).toMatch(/^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?\d+(\.\d+)?(e[+-]?\d+)?)$/);
    }
    expect(text).toMatch(/^tor_reconcile_reconciles_total\{result="ok"\} [1-9]/m);
    expect(text).toMatch(/^tor_reconcile_connected 1$/m);
  });
});

describe('watch across tor restarts', () => {
  it('reconnects to a restarted tor and restores ephemeral services with the same address', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tr-watch-tor-'));
    const opts = offlineLaunch({ dataDirectory: dataDir, options: { DisableNetwork: 1, SocksPort: 0 } });
    let own = await launch(opts);
    try {
      const spec = path.join(work, 'restart.yaml');
      await writeSpec(spec, `stateDirectory: ./restart-state\noptions:\n  ContactInfo: restart@example.org\nonionServices:\n  - { name: api, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: 127.0.0.1:9000 }] }\n`);
      const w = new Watcher({
        specFiles: [spec],
        control: formatControlAddress(own.controlAddress),
        debounceMs: 20,
        reconnect: { initialMs: 100, maxMs: 500 },
        table: tableFor,
        log: () => {},
        load: async (table) => (await loadSpec([spec], { ...(table ? { table } : {}) })).state,
      });
      running.push(w);
      await w.start();
      const address = (await loadKeyFile(path.join(work, 'restart-state/keys/api.key'))).address;
      expect(await own.client.getInfo('onions/detached')).toContain(address);
      process.kill(own.pid, 'SIGKILL');
      await until('the watcher to notice', () => !w.health().connected);
      own = await launch(opts);
      await until('the service to be restored', async () => (await own.client.getInfo('onions/detached')).includes(address), 20_000);
      expect(await contact(own.client)).toBe('restart@example.org');
      expect(w.metrics.reconnects).toBe(1);
    } finally {
      for (const w of running.splice(0)) await w.stop();
      await own.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 40_000);
});

describe('tor-reconcile watch (the command)', () => {
  it('serves /healthz and /metrics, and exits 0 on SIGTERM leaving tor configured', async () => {
    const spec = path.join(work, 'cli.yaml');
    await writeSpec(spec, 'options:\n  ContactInfo: cli-watch@example.org\n');
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const child = spawn('node', [path.join(root, 'dist/cli/main.cjs'), 'watch', spec, '--control', control, '--listen', `127.0.0.1:${port}`, '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await until('healthy', async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200, 15_000);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toContain('tor_reconcile_last_success_timestamp_seconds');
      expect(await contact()).toBe('cli-watch@example.org');

      // An invalid spec on disk: still served, still healthy (the last good spec is enforced), and said.
      const health = async () => {
        const r = await fetch(`http://127.0.0.1:${port}/healthz`);
        return { status: r.status, body: (await r.json()) as { specValid: boolean; specError?: string; specInForce?: string } };
      };
      await writeSpec(spec, 'options:\n  ContactInfo: [unclosed\n');
      await until('/healthz to show the invalid spec', async () => !(await health()).body.specValid, 10_000);
      const bad = await health();
      expect(bad.status).toBe(200);
      expect(bad.body.specError).toMatch(/cli\.yaml:\d+:\d+: /);
      expect(bad.body.specInForce).toBe('the last good spec');
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toMatch(/^tor_reconcile_spec_valid 0$/m);
      await writeSpec(spec, 'options:\n  ContactInfo: cli-watch@example.org\n');
      await until('/healthz to show the spec valid again', async () => (await health()).body.specValid, 10_000);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(await contact()).toBe('cli-watch@example.org');
      const lines = stderr.trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.some((l) => l.event === 'reconcile' && l.trigger === 'start')).toBe(true);
      expect(lines.at(-1).event).toBe('shutdown');
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);
});
