/**
 * Issue #17, `onionbalance: { manage: true }`: the real Debian `onionbalance` (0.2.2) run by tor-reconcile
 * against real tors (DisableNetwork 1): two backend tors and Onionbalance's own tor. plan and status start
 * nothing and count a missing Onionbalance as a change; apply starts it detached after the backends and
 * config.yaml; a re-plan is in sync; adding a backend reloads the same process (SIGHUP) with the new
 * config.yaml; a killed one is started again; a pid file whose pid is now another process is never signalled;
 * two applies at once start one; a binary that cannot run, or an Onionbalance that exits at start, fails apply.
 * `watch` restarts it when it exits (with backoff while it keeps failing), reloads it when config.yaml
 * changes, and leaves it running when it stops.
 *
 * Onionbalance 0.2.2 exits at start unless its tor answers `GETINFO dir/status-vote/current/consensus-microdesc`,
 * which tor reads from `<DataDirectory>/cached-microdesc-consensus`; a tor without network has none. The test
 * gives its tor an expired one (CONSENSUS): Onionbalance then runs and waits for a live consensus, as it does
 * on a tor that has not bootstrapped yet. Publishing is not tested here (no network; test/e2e is the place).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderOnionbalanceMetrics } from '../../src/cli/views/fleet.js';
import { isOurs, obFiles, type ObRecord } from '../../src/fleet/onionbalance.js';
import { FleetWatcher } from '../../src/fleet/watch.js';
import { tableFor } from '../../src/reconcile/reconcile.js';
import type { WatchLogEntry } from '../../src/reconcile/watch.js';
import { loadSpec } from '../../src/spec/index.js';
import { cliInProcess } from '../helpers/cli.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';

/** Expired (2020) and unsigned: enough for Onionbalance to parse it, find it not live, and wait. */
const CONSENSUS = `network-status-version 3 microdesc
vote-status consensus
consensus-method 32
valid-after 2020-01-01 00:00:00
fresh-until 2020-01-01 01:00:00
valid-until 2020-01-01 03:00:00
voting-delay 300 300
known-flags Fast Guard HSDir Running Stable V2Dir Valid
directory-footer
`;

let work: string;
let spec: string;
let frontDir: string;
const tors: TestTor[] = [];
const sleepers: ChildProcess[] = [];
let watcher: FleetWatcher | undefined;
const logs: Array<[string, WatchLogEntry]> = [];

const SPEC = (backends: string) => `version: 1
stateDirectory: ./state
targets:
  - { name: backend-1, control: unix:./backend-1/control.sock }
  - { name: backend-2, control: unix:./backend-2/control.sock }
onionServices:
  - name: shop
    type: balanced
    frontend: { key: { generate: true }, directory: ./ob }
    backends: [${backends}]
    directory: ./hs/{target}/shop
    ports: [{ port: 80, target: 127.0.0.1:8080 }]
    onionbalance: { manage: true, control: unix:./ob-tor/control.sock }
`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-obm-'));
  spec = path.join(work, 'spec.yaml');
  frontDir = path.join(work, 'ob');
  await writeFile(spec, SPEC('backend-1'));
  for (const name of ['backend-1', 'backend-2', 'ob-tor']) tors.push(await startTestTor({ dataDirectory: path.join(work, name) }));
  await writeFile(path.join(work, 'ob-tor', 'cached-microdesc-consensus'), CONSENSUS);
}, 120_000);

afterAll(async () => {
  await watcher?.stop();
  // Onionbalance is detached (it outlives apply by design): the test stops those it caused (their working
  // directory is this test's frontend directory), even one a failing test left without a record.
  if (frontDir) for (const pid of await onionbalancesOfThisTest()) process.kill(pid, 'SIGTERM');
  for (const s of sleepers) s.kill();
  await Promise.all(tors.map((t) => t.cleanup()));
  if (work) await rm(work, { recursive: true, force: true });
});

const cli = (...argv: string[]) => cliInProcess(argv, { NO_COLOR: '1' });
const pidRecord = async () => JSON.parse(await readFile(obFiles(frontDir).pidFile, 'utf8')) as ObRecord;
const log = () => readFile(obFiles(frontDir).logFile, 'utf8');
const comm = (pid: number) => readFile(`/proc/${pid}/comm`, 'utf8').then((s) => s.trim(), () => undefined);

/** Every onionbalance process of this test's: they all read the config.yaml of its frontend directory. */
async function onionbalancesOfThisTest(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || (await comm(Number(entry))) !== 'onionbalance') continue;
    const cwd = await readlink(`/proc/${entry}/cwd`).catch(() => '');
    if (cwd === frontDir) pids.push(Number(entry));
  }
  return pids;
}

describe('onionbalance: { manage: true }', () => {
  it('plan and status start nothing, write nothing, and count the Onionbalance that is not running as a change', async () => {
    const plan = await cli('plan', spec, '--detailed-exitcode');
    expect(plan.code, plan.stderr).toBe(2);
    expect(plan.stdout).toContain('> start onionbalance: not running');
    expect(plan.stdout).toContain(`-s ${path.join(work, 'ob-tor/control.sock')} -i 127.0.0.1 -p 1 -c ${path.join(frontDir, 'config.yaml')} -v info`);
    expect(plan.stdout).toContain(`holding ${path.join(frontDir, '.lock')}; the process recorded in ${obFiles(frontDir).pidFile} (0600)`);
    const status = await cli('status', spec);
    expect(status.stdout).toContain('onionbalance: not running (apply starts or reloads it)');
    const diff = await cli('diff', spec);
    expect(diff.code, diff.stderr).toBe(1);
    expect(diff.stdout).toContain(`--- ${path.join(frontDir, 'config.yaml')} (on disk)`);
    expect(diff.stdout).toMatch(/^\+services:$/m);
    expect(existsSync(frontDir), 'read-only commands create no frontend directory, pid file or log').toBe(false);
    expect(await onionbalancesOfThisTest()).toEqual([]);
  }, 60_000);

  it('apply starts it after the backend and config.yaml; it keeps running after apply returns; a re-plan is in sync', async () => {
    const r = await cli('apply', spec);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const record = await pidRecord();
    expect(r.stdout).toContain(`onionbalance: started (pid ${record.pid}; log ${obFiles(frontDir).logFile})`);
    expect(await comm(record.pid)).toBe('onionbalance');
    const config = await readFile(path.join(frontDir, 'config.yaml'), 'utf8');
    const [backend1] = [...config.matchAll(/address: ([a-z2-7]{56})/g)].map((m) => m[1]);
    expect(backend1).toBeDefined();
    // It read the config.yaml apply wrote (the backend's address, assigned by its tor during this apply).
    expect(await log()).toContain(`Loaded instance ${backend1}`);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await isOurs(record), 'still running after apply returned').toBe(true);
    const again = await cli('plan', spec, '--detailed-exitcode');
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toContain(`in sync; onionbalance running (pid ${record.pid}), config.yaml loaded`);
    const diff = await cli('diff', spec);
    expect(diff.code, diff.stdout + diff.stderr).toBe(0);
    expect(diff.stdout).toBe('');
    expect((await cli('status', spec)).stdout).toContain(`onionbalance: running (pid ${record.pid}), config.yaml loaded\n`);
    expect(await onionbalancesOfThisTest()).toEqual([record.pid]);
  }, 90_000);

  it('adding a backend is one plan: its tor, config.yaml, then a reload of the same process', async () => {
    const before = await pidRecord();
    const offset = (await log()).length;
    await writeFile(spec, SPEC('backend-1, backend-2'));
    const plan = await cli('plan', spec, '--detailed-exitcode');
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain('# and the address of backend-2, assigned by its tor on apply');
    expect(plan.stdout).toContain(`> reload onionbalance: running (pid ${before.pid}); config.yaml gains the address of backend-2 on apply`);
    expect(plan.stdout).toContain(`kill -HUP ${before.pid}`);
    // The backend's tor first, then the frontend's files and the reload (the sections are in apply's order).
    expect(plan.stdout.indexOf('=== target backend-2')).toBeLessThan(plan.stdout.indexOf('> reload onionbalance'));
    const r = await cli('apply', spec);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`onionbalance: reloaded (pid ${before.pid}`);
    const after = await pidRecord();
    expect(after.pid).toBe(before.pid);
    const addresses = [...(await readFile(path.join(frontDir, 'config.yaml'), 'utf8')).matchAll(/address: ([a-z2-7]{56})/g)].map((m) => m[1]);
    expect(addresses).toHaveLength(2);
    const since = (await log()).slice(offset);
    expect(since).toContain('Signal SIGHUP received, reloading configuration');
    for (const a of addresses) expect(since).toContain(`Loaded instance ${a}`);
    expect((await cli('plan', spec, '--detailed-exitcode')).code).toBe(0);
  }, 90_000);

  it('a killed Onionbalance is a change, and apply starts it again', async () => {
    const before = await pidRecord();
    process.kill(before.pid, 'SIGKILL');
    for (let i = 0; i < 50 && (await isOurs(before)); i++) await new Promise((r) => setTimeout(r, 100));
    const plan = await cli('plan', spec, '--detailed-exitcode');
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain(`> start onionbalance: not running (pid ${before.pid} of the pid file has exited)`);
    const r = await cli('apply', spec);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const after = await pidRecord();
    expect(after.pid).not.toBe(before.pid);
    expect(await onionbalancesOfThisTest()).toEqual([after.pid]);
  }, 90_000);

  it('a pid file whose pid is now another process: that process is never signalled, a new Onionbalance is started', async () => {
    const ours = await pidRecord();
    process.kill(ours.pid, 'SIGTERM');
    for (let i = 0; i < 50 && (await isOurs(ours)); i++) await new Promise((r) => setTimeout(r, 100));
    // The pid "recycled": the record names a live process that is not Onionbalance (sleep dies of SIGHUP or SIGTERM).
    const sleeper = spawn('sleep', ['300'], { stdio: 'ignore' });
    sleepers.push(sleeper);
    const stat = await readFile(`/proc/${sleeper.pid}/stat`, 'utf8');
    const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
    for (const record of [{ ...ours, pid: sleeper.pid! }, { ...ours, pid: sleeper.pid!, startTime }]) {
      await writeFile(obFiles(frontDir).pidFile, JSON.stringify(record));
      const plan = await cli('plan', spec, '--detailed-exitcode');
      expect(plan.code).toBe(2);
      expect(plan.stdout).toContain(`> start onionbalance: not running (pid ${sleeper.pid} of the pid file is now another process, never signalled)`);
      expect(plan.stdout).not.toContain(`kill -HUP ${sleeper.pid}`);
    }
    const r = await cli('apply', spec);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(sleeper.exitCode, 'sleep was never signalled').toBeNull();
    expect(sleeper.signalCode).toBeNull();
    expect(await comm(sleeper.pid!)).toBe('sleep');
    const started = await pidRecord();
    expect(started.pid).not.toBe(sleeper.pid);
    expect(await onionbalancesOfThisTest()).toEqual([started.pid]);
  }, 90_000);

  it('two applies at once start one Onionbalance (the frontend directory is locked around a start)', async () => {
    const ours = await pidRecord();
    process.kill(ours.pid, 'SIGTERM');
    for (let i = 0; i < 50 && (await isOurs(ours)); i++) await new Promise((r) => setTimeout(r, 100));
    const [one, two] = await Promise.all([cli('apply', spec), cli('apply', spec)]);
    expect(one.code, one.stdout + one.stderr).toBe(0);
    expect(two.code, two.stdout + two.stderr).toBe(0);
    const started = await pidRecord();
    expect(await onionbalancesOfThisTest()).toEqual([started.pid]);
    // The one that waited found it running with this config.yaml: it did not start a second.
    expect([one.stdout, two.stdout].filter((o) => o.includes('onionbalance: started')).length).toBe(1);
  }, 90_000);

  it('a binary that cannot be run fails apply with the reason', async () => {
    const ours = await pidRecord();
    process.kill(ours.pid, 'SIGTERM');
    for (let i = 0; i < 50 && (await isOurs(ours)); i++) await new Promise((r) => setTimeout(r, 100));
    const text = await readFile(spec, 'utf8');
    await writeFile(spec, text.replace('manage: true,', 'manage: true, binary: ./no-such-onionbalance,'));
    try {
      const r = await cli('apply', spec);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`FAILED: cannot run ${path.join(work, 'no-such-onionbalance')}: spawn ${path.join(work, 'no-such-onionbalance')} ENOENT`);
    } finally {
      await writeFile(spec, text);
    }
  }, 90_000);

  it('an Onionbalance that exits at start fails apply with its log', async () => {
    // Its tor without a cached consensus: Onionbalance 0.2.2 exits with a traceback.
    await rm(path.join(work, 'ob-tor', 'cached-microdesc-consensus'));
    try {
      const r = await cli('apply', spec);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('FAILED: onionbalance start failed: the process exited.');
      expect(r.stdout).toContain('Could not open cached consensus');
      expect(await onionbalancesOfThisTest()).toEqual([]);
    } finally {
      await writeFile(path.join(work, 'ob-tor', 'cached-microdesc-consensus'), CONSENSUS);
    }
  }, 90_000);
});

async function until(what: string, check: () => Promise<boolean> | boolean, timeout = 30_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${logs.map(([t, e]) => `[${t}] ${e.event}: ${e.message}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('watch supervises a managed Onionbalance', () => {
  const events = () => logs.filter(([t]) => t === 'onionbalance:shop').map(([, e]) => e.event);

  it('starts it, restarts it when it exits (backoff while it fails), reloads it after config.yaml changes, and leaves it running when it stops', async () => {
    // The previous test left no Onionbalance running.
    expect(await onionbalancesOfThisTest()).toEqual([]);
    const fleet = (await loadSpec([spec], { env: {} })).state;
    watcher = new FleetWatcher(fleet.targets!, {
      specFiles: [spec],
      debounceMs: 50,
      onionPollMs: 0,
      reconnect: { initialMs: 100, maxMs: 500 },
      table: tableFor,
      log: (t, e) => logs.push([t, e]),
      load: async (table) => (await loadSpec([spec], { env: {}, ...(table ? { table } : {}) })).state,
      onionbalance: ['shop'],
      onionbalanceIntervalMs: 200,
    });
    await watcher.start();
    const first = await pidRecord();
    expect(await isOurs(first)).toBe(true);
    expect(events()).toEqual(['onionbalance-start']);
    expect(watcher.health()).toMatchObject({ ok: true, onionbalance: { shop: { running: true, pid: first.pid, starts: 1 } } });

    // Killed: started again, a new process.
    process.kill(first.pid, 'SIGKILL');
    await until('a second start', () => events().length === 2);
    expect(events()).toEqual(['onionbalance-start', 'onionbalance-start']);
    expect((await pidRecord()).pid).not.toBe(first.pid);

    // Killed while it cannot start (its tor has no consensus): failures, with backoff, until it can again.
    const second = await pidRecord();
    await rm(path.join(work, 'ob-tor', 'cached-microdesc-consensus'));
    process.kill(second.pid, 'SIGKILL');
    await until('two failed starts', () => events().filter((e) => e === 'onionbalance-failed').length >= 2);
    expect(watcher.health().ok, 'not healthy while Onionbalance is down').toBe(false);
    const failures = logs.filter(([t, e]) => t === 'onionbalance:shop' && e.event === 'onionbalance-failed').map(([, e]) => e.message);
    expect(failures[0]).toMatch(/Could not open cached consensus[\s\S]*\(next try in 1 s or later\)$/);
    expect(failures[1]).toMatch(/\(next try in 2 s or later\)$/);
    await writeFile(path.join(work, 'ob-tor', 'cached-microdesc-consensus'), CONSENSUS);
    await until('started again once it can', () => events().at(-1) === 'onionbalance-start' && watcher!.health().ok);
    const third = await pidRecord();

    // config.yaml changed on disk (a comment is enough to differ from what it loaded): reloaded, same process.
    const offset = (await log()).length;
    const configFile = path.join(frontDir, 'config.yaml');
    await writeFile(configFile, (await readFile(configFile, 'utf8')) + '# edited\n');
    await until('a reload', () => events().includes('onionbalance-reload'));
    expect((await pidRecord()).pid).toBe(third.pid);
    expect((await log()).slice(offset)).toContain('Signal SIGHUP received, reloading configuration');
    const metrics = renderOnionbalanceMetrics(watcher.onionbalance.map((s) => s.state));
    expect(metrics).toContain('tor_reconcile_onionbalance_up{service="shop"} 1\n');
    expect(metrics).toMatch(/tor_reconcile_onionbalance_reloads_total\{service="shop"\} 1\n/);
    expect(metrics).toMatch(/tor_reconcile_onionbalance_failures_total\{service="shop"\} [1-9]/);

    await watcher.stop();
    watcher = undefined;
    expect(await isOurs(third), 'watch leaves Onionbalance running when it stops').toBe(true);
    expect(await onionbalancesOfThisTest()).toEqual([third.pid]);
  }, 120_000);
});

describe('tor-reconcile watch (the command) with a managed Onionbalance', () => {
  it('restarts it when it exits, shows it in /healthz and /metrics, and leaves it running on SIGTERM', async () => {
    const first = await pidRecord();
    expect(await isOurs(first), 'the previous test left it running').toBe(true);
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const child = spawn('node', [path.join(import.meta.dirname, '../../dist/cli/main.cjs'), 'watch', spec, '--listen', `127.0.0.1:${port}`, '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const health = async () => {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      return r && { status: r.status, body: (await r.json()) as { onionbalance?: Record<string, { running: boolean; pid?: number; starts: number }> } };
    };
    try {
      await until('healthy', async () => (await health())?.status === 200, 30_000);
      expect((await health())!.body.onionbalance).toEqual({ shop: expect.objectContaining({ running: true, pid: first.pid, starts: 0 }) });
      process.kill(first.pid, 'SIGKILL');
      await until('restarted by watch', async () => (await health())?.body.onionbalance?.shop?.starts === 1 && (await health())?.status === 200);
      const second = await pidRecord();
      expect(second.pid).not.toBe(first.pid);
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toMatch(/^tor_reconcile_onionbalance_starts_total\{service="shop"\} 1$/m);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(await isOurs(second), 'still running after watch exited').toBe(true);
      const lines = stderr.trim().split('\n').map((l) => JSON.parse(l) as { event: string; target?: string });
      expect(lines.some((l) => l.event === 'onionbalance-start' && l.target === 'onionbalance:shop')).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  }, 90_000);
});
