/**
 * Issue #17: one spec, three real tors (DisableNetwork 1), examples/specs/fleet.yaml as written. Per-target
 * overrides reach only their target, every target gets its own generated keys, a target that is down is
 * reported with its reason while the other two converge, the exit status says something failed, and
 * --target limits the work.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKeyFile } from '../../src/reconcile/local.js';
import { connect, type TorClient } from '../../src/tor/client.js';
import { cliInProcess } from '../helpers/cli.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';

const root = path.join(import.meta.dirname, '../..');
const NAMES = ['edge-1', 'edge-2', 'edge-3'] as const;
let work: string;
let spec: string;
const tors = new Map<string, TestTor>();

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-fleet-'));
  await cp(path.join(root, 'examples/specs/fleet.yaml'), path.join(work, 'fleet.yaml'));
  spec = path.join(work, 'fleet.yaml');
  // Each tor's ControlSocket is <dataDirectory>/control.sock: where the example's targets point.
  await Promise.all(NAMES.map(async (name) => tors.set(name, await startTestTor({ dataDirectory: path.join(work, '.fleet', name) }))));
}, 120_000);

afterAll(async () => {
  await Promise.all([...tors.values()].map((t) => t.cleanup()));
  if (work) await rm(work, { recursive: true, force: true });
});

const cli = (...argv: string[]) => cliInProcess(argv, { NO_COLOR: '1' });

async function getconf(name: string, option: string): Promise<string | undefined> {
  const client: TorClient = await connect({ control: { type: 'unix', path: path.join(work, '.fleet', name, 'control.sock') } });
  try {
    return (await client.getConf([option])).get(option)?.[0];
  } finally {
    await client.close();
  }
}

interface FleetJson {
  ok: boolean;
  targets: Array<{ name: string; ok: boolean; error?: string; plan?: { changes: Array<{ id: string; action: string }>; addresses: Array<{ name: string; address: string | null }> }; result?: { ok: boolean } }>;
}

describe('a fleet from one spec', () => {
  it('plans every target in its own section, with --detailed-exitcode 2 while any target has changes', async () => {
    const { code, stdout } = await cli('plan', spec, '--format', 'json', '--detailed-exitcode');
    expect(code).toBe(2);
    const json = JSON.parse(stdout) as FleetJson;
    expect(json.targets.map((t) => t.name)).toEqual([...NAMES]);
    const changed = (name: string) => json.targets.find((t) => t.name === name)!.plan!.changes.filter((c) => c.action !== 'noop').map((c) => c.id).sort();
    expect(changed('edge-1')).toEqual(['MaxCircuitDirtiness', 'NewCircuitPeriod', 'admin', 'api']);
    expect(changed('edge-2')).toEqual(['MaxCircuitDirtiness', 'NewCircuitPeriod', 'api']);
    const human = await cli('plan', spec);
    for (const name of NAMES) expect(human.stdout).toContain(`=== target ${name} (unix:${path.join(work, '.fleet', name, 'control.sock')})`);
    expect(human.stdout).toContain('Fleet: 3 targets: 3 with changes.');
    const markdown = await cli('plan', spec, '--format', 'markdown');
    expect(markdown.stdout.match(/^## Target `edge-\d`$/gm)).toHaveLength(3);
  }, 120_000);

  it('applies all three; overrides reach only their target; keys are per target; a re-plan is empty', async () => {
    const { code, stdout, stderr } = await cli('apply', spec, '--parallelism', '2');
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('Fleet: 3 targets: 3 applied.');
    expect(await getconf('edge-1', 'MaxCircuitDirtiness')).toBe('1200');
    expect(await getconf('edge-2', 'MaxCircuitDirtiness')).toBe('900');
    expect(await getconf('edge-3', 'MaxCircuitDirtiness')).toBe('1200');
    const keys = await Promise.all(NAMES.map(async (n) => (await loadKeyFile(path.join(work, '.tor-reconcile-fleet/targets', n, 'keys/api.key'))).address));
    expect(new Set(keys).size, 'a key generated for one target is never another\'s').toBe(3);
    const again = await cliInProcess(['plan', spec, '--detailed-exitcode'], { NO_COLOR: '1', TOR_RECONCILE_TRACE: '1' });
    expect(again.code, again.stdout).toBe(0);
    // Their torrc files hold none of it (the example keeps persist: none): said, not plainly "in sync".
    expect(again.stdout).toContain('Fleet: 3 targets: 3 in sync until tor restarts.');
    const reapplied = await cli('apply', spec);
    expect(reapplied.code, reapplied.stderr).toBe(0);
    expect(reapplied.stdout.match(/^ {2}Nothing to do\.\n {2}warning: persist: none — tor matches the spec only until it restarts or reloads/gm)).toHaveLength(3);
    expect(reapplied.stdout).toContain('Fleet: 3 targets: 3 in sync until tor restarts.');
    // A no-op plan costs each target what it costs one tor: one pipelined round trip after authentication.
    for (const name of NAMES) expect(again.stderr).toMatch(new RegExp(`^> \\[${name}\\] \\d+ commands in 1 round trips after authentication$`, 'm'));
    const status = JSON.parse((await cli('status', spec, '--json')).stdout) as { targets: Array<{ name: string; services: Array<{ name: string; running: boolean; address: string }> }> };
    expect(status.targets.map((t) => [t.name, t.services.map((s) => `${s.name}:${s.running}`)])).toEqual([
      ['edge-1', ['api:true', 'admin:true']],
      ['edge-2', ['api:true']],
      ['edge-3', ['api:true']],
    ]);
    expect(new Set(status.targets.map((t) => t.services[0]!.address)).size).toBe(3);
  }, 180_000);

  it('one target down: the other two converge, the down one is reported with its reason, exit 1', async () => {
    await tors.get('edge-3')!.stop();
    // A change for every target: the overlay's top-level value (edge-2 keeps its own override).
    const overlay = path.join(work, 'more.yaml');
    await writeFile(overlay, 'options:\n  NewCircuitPeriod: 2 minutes\n');
    const { code, stdout } = await cli('apply', spec, overlay, '--json');
    expect(code).toBe(1);
    const json = JSON.parse(stdout) as FleetJson;
    expect(json.ok).toBe(false);
    const byName = new Map(json.targets.map((t) => [t.name, t]));
    expect(byName.get('edge-1')!.result!.ok).toBe(true);
    expect(byName.get('edge-2')!.result!.ok).toBe(true);
    expect(byName.get('edge-3')!.ok).toBe(false);
    expect(byName.get('edge-3')!.error).toMatch(/cannot connect to tor's control port at unix:.*edge-3\/control\.sock/);
    expect(await getconf('edge-1', 'NewCircuitPeriod')).toBe('120');
    expect(await getconf('edge-2', 'NewCircuitPeriod')).toBe('120');
    const human = await cli('plan', spec, overlay, '--detailed-exitcode');
    expect(human.code, 'a failed target is a failure, not "changes"').toBe(1);
    expect(human.stdout).toContain('Fleet: 3 targets: 2 in sync until tor restarts, 1 failed.');
    expect(human.stdout).toMatch(/=== target edge-3 .*\n\n {2}FAILED: cannot connect/);
  }, 180_000);

  it('--target limits the work to the named targets; an unknown name is a usage error', async () => {
    const overlay = path.join(work, 'more.yaml');
    const { code, stdout } = await cli('plan', spec, overlay, '--target', 'edge-2', '--target', 'edge-1', '--format', 'json', '--detailed-exitcode');
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as FleetJson).targets.map((t) => t.name)).toEqual(['edge-1', 'edge-2']);
    const same = await cli('diff', spec, overlay, '--target', 'edge-1');
    expect(same.code).toBe(0);
    // The same now, but held in tor's memory only: said on stderr.
    expect(same.stderr).toMatch(/^warning: \[edge-1\] persist: none — tor matches the spec only until it restarts or reloads \(SIGHUP\), which would revert /m);
    expect(same.stderr).not.toContain('edge-2');
    const diff = await cli('diff', spec, '--target', 'edge-1');
    expect(diff.code, 'without the overlay, edge-1 differs').toBe(1);
    expect(diff.stdout).toContain('--- live (edge-1: unix:');
    expect(diff.stdout).toMatch(/^-NewCircuitPeriod 120$/m);
    expect(diff.stdout).not.toContain('edge-2');
    const single = path.join(work, 'single.yaml');
    await writeFile(single, 'version: 1\ntor: { control: "tcp:127.0.0.1:1" }\n');
    for (const argv of [['plan', single, '--target', 'edge-1'], ['apply', single, '--parallelism', '2']]) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/needs a spec with targets:/);
    }
    const unknown = await cli('plan', spec, '--target', 'edge-9');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no target called edge-9 in the spec (targets: edge-1, edge-2, edge-3)');
  }, 120_000);
});
