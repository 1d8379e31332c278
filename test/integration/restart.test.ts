/**
 * Options tor only takes at start-up (issue #14 part 2) and the embedded tor's start-up options (issue #18
 * point 1), on real tors: a restart-only difference is never "in sync"; the embedded tor is restarted by
 * apply and keeps its ephemeral service's address; an external tor's apply exits 3 until tor is restarted.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tableFor } from '../../src/reconcile/reconcile.js';
import { Watcher, type WatchLogEntry } from '../../src/reconcile/watch.js';
import { loadSpec } from '../../src/spec/index.js';
import { formatControlAddress } from '../../src/tor/address.js';
import { connect } from '../../src/tor/client.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';
import { cliInProcess } from '../helpers/cli.js';

const cli = (argv: string[]) => cliInProcess(argv);

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-rs-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('a restart-only option on a tor tor-reconcile did not start', () => {
  let tor: TestTor;
  let control: string;
  let spec: string;
  beforeAll(async () => {
    tor = await startTestTor();
    control = formatControlAddress(tor.controlAddress);
    spec = path.join(work, 'external.yaml');
    await writeFile(spec, 'version: 1\noptions:\n  TokenBucketRefillInterval: 50 msec\n  ContactInfo: pending-restart@example.org\n');
  });
  afterAll(async () => {
    await tor?.cleanup();
  });

  it('plan --detailed-exitcode exits 2 even once everything else is applied; every view says it needs a restart', async () => {
    expect((await cli(['plan', spec, '--control', control, '--detailed-exitcode'])).code).toBe(2);
    const applied = await cli(['apply', spec, '--control', control]);
    expect(applied.code, applied.stdout + applied.stderr).toBe(3);
    expect(applied.stderr).toMatch(/applied; a tor restart is pending for TokenBucketRefillInterval/);
    expect((await tor.client.getConf(['ContactInfo'])).get('ContactInfo')).toEqual(['pending-restart@example.org']);

    const plan = await cli(['plan', spec, '--control', control, '--detailed-exitcode']);
    expect(plan.code).toBe(2);
    expect(plan.stdout).not.toMatch(/No changes/);
    expect(plan.stdout).toMatch(/TokenBucketRefillInterval \(needs a tor restart, not sent/);
    const json = JSON.parse((await cli(['plan', spec, '--control', control, '--json'])).stdout);
    expect(json.plan.restart).toBe('pending');
    expect(json.plan.changes.find((c: { id: string }) => c.id === 'TokenBucketRefillInterval').needsRestart).toBe(true);
    expect((await cli(['plan', spec, '--control', control, '--format', 'markdown'])).stdout).toMatch(/needs a tor restart/);
    expect((await cli(['plan', spec, '--control', control, '--format', 'github'])).stdout).toMatch(/^::warning.*option TokenBucketRefillInterval: .*needs a tor restart/m);
    expect((await cli(['diff', spec, '--control', control])).code).toBe(1);
  });

  it('watch does not log "tor matches the spec" while a restart-only option differs', async () => {
    const logs: WatchLogEntry[] = [];
    const w = new Watcher({ specFiles: [spec], control, debounceMs: 20, table: tableFor, log: (e) => logs.push(e), load: async (table) => (await loadSpec([spec], table ? { table } : {})).state });
    try {
      await w.start();
      await w.idle();
    } finally {
      await w.stop();
    }
    expect(logs.map((l) => l.message)).not.toContain('tor matches the spec');
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', message: 'tor matches the spec except what needs a tor restart or the operator: update option TokenBucketRefillInterval' }));
  });

  it('apply exits 3, and 0 with --allow-pending-restart', async () => {
    expect((await cli(['apply', spec, '--control', control])).code).toBe(3);
    const allowed = await cli(['apply', spec, '--control', control, '--allow-pending-restart']);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stderr).toMatch(/a tor restart is pending/);
  });
});

describe('the embedded tor', () => {
  const specText = (interval: number, socks: number) =>
    [
      'version: 1',
      'tor:',
      '  launch:',
      '    dataDirectory: ./tor-data',
      '    options: { DisableNetwork: 1 }',
      'stateDirectory: ./state',
      'options:',
      `  SocksPort: 127.0.0.1:${socks}`,
      `  TokenBucketRefillInterval: ${interval} msec`,
      'onionServices:',
      '  - { name: api, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: 8000 }] }',
      '',
    ].join('\n');
  let spec: string;
  let dir: string;
  let socks: number;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(work, 'e-'));
    spec = path.join(dir, 'spec.yaml');
    socks = await freePort();
  });
  afterAll(async () => {
    await cli(['stop', spec]);
  });
  const pid = async () => Number(await readFile(path.join(dir, 'tor-data/tor.pid'), 'utf8'));
  const detached = async () => {
    const c = await connect({ control: `unix:${path.join(dir, 'tor-data/control.sock')}` });
    try {
      return (await c.getInfo('onions/detached')).split('\n').filter(Boolean);
    } finally {
      await c.close();
    }
  };

  it("starts with the spec's listeners and restart-only options, beside a process on 127.0.0.1:9050", async (ctx) => {
    const blocker = await listen(9050);
    if (!blocker) ctx.skip('127.0.0.1:9050 is held by another service: the test opens its own listener there');
    try {
      await writeFile(spec, specText(100, socks));
      // plan starts nothing (issue #21): it plans against what the embedded tor would start with.
      const plan = await cli(['plan', spec, '--json']);
      expect(plan.stderr).not.toMatch(/starting the embedded tor/);
      expect(existsSync(path.join(dir, 'tor-data'))).toBe(false);
      const changes = JSON.parse(plan.stdout).plan.changes as Array<{ id: string; action: string }>;
      expect(changes.find((c) => c.id === 'SocksPort')?.action).toBe('noop');
      expect(changes.find((c) => c.id === 'TokenBucketRefillInterval')?.action).toBe('noop');
      const applied = await cli(['apply', spec, '--json']);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      expect(applied.stderr).toMatch(/starting the embedded tor/);
      // What tor found at its start: the spec's listeners and restart-only options, nothing for apply to set.
      const first = JSON.parse(applied.stdout).plan.changes as Array<{ kind: string; id: string; action: string }>;
      expect(first.filter((c) => ['SocksPort', 'TokenBucketRefillInterval'].includes(c.id) && c.action !== 'noop')).toEqual([]);
      // In tor's defaults file, which the drop-in apply persists replaces option by option.
      expect(await readFile(path.join(dir, 'tor-data/torrc-defaults'), 'utf8')).toMatch(new RegExp(`^SocksPort 127\\.0\\.0\\.1:${socks}$`, 'm'));
      // Stopped and started again, tor reads both files: the spec's listeners once, not once from each.
      expect((await cli(['stop', spec])).code).toBe(0);
      const again = await cli(['apply', spec, '--json']);
      expect(again.stderr).toMatch(/starting the embedded tor/);
      const after = JSON.parse(again.stdout).plan.changes as Array<{ kind: string; id: string; action: string }>;
      expect(after.filter((c) => c.kind === 'option' && c.action !== 'noop')).toEqual([]);
    } finally {
      blocker?.close();
    }
  });

  it('converges through apply: a restart step in the plan, a new pid, the same ephemeral address', async () => {
    await writeFile(spec, specText(100, socks));
    expect((await cli(['apply', spec])).code).toBe(0);
    const before = await pid();
    const [address] = await detached();
    expect(address).toMatch(/^[a-z2-7]{56}$/);

    await writeFile(spec, specText(50, socks));
    const plan = await cli(['plan', spec, '--detailed-exitcode']);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toMatch(/restart the embedded tor \(.*tor-data\) to change TokenBucketRefillInterval/);
    expect(plan.stdout).toMatch(/needs a tor restart: apply restarts the embedded tor/);
    expect(JSON.parse((await cli(['plan', spec, '--json'])).stdout).plan.restart).toBe('apply');

    const applied = await cli(['apply', spec]);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect(applied.stderr).toMatch(/restarting the embedded tor/);
    expect(await pid()).not.toBe(before);
    expect(await detached()).toEqual([address]);
    expect(applied.stdout).toContain(`api (ephemeral): ${address}.onion`);
    expect((await cli(['plan', spec, '--detailed-exitcode'])).code).toBe(0);
  });

  it('a start-up value tor refuses: the running tor is not stopped, and tor says why', async () => {
    await writeFile(spec, specText(50, socks));
    expect((await cli(['apply', spec])).code).toBe(0);
    const before = await pid();
    await writeFile(spec, specText(5000, socks));
    const applied = await cli(['apply', spec]);
    expect(applied.code).toBe(1);
    // The embedded tor's drop-in is written (and verified by tor) before the restart: the refusal stops the
    // apply there, and the restart is skipped.
    expect(applied.stdout).toMatch(/FAILED +verify with tor --verify-config, then write .*tor-reconcile\.torrc/);
    expect(applied.stdout).toMatch(/skipped restart the embedded tor/);
    expect(applied.stdout).toMatch(/TokenBucketRefillInterval must be between 1 and 1000/);
    expect(await pid()).toBe(before);
    expect(() => process.kill(before, 0)).not.toThrow();
  });
});

function listen(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer((s) => s.destroy());
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

async function freePort(): Promise<number> {
  const server = await listen(0);
  const port = (server!.address() as net.AddressInfo).port;
  await new Promise((r) => server!.close(r));
  return port;
}
