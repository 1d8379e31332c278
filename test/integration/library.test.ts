/**
 * The reconciler as a library, used the way a Node program would: the package packed with `npm pack`,
 * installed into an empty project, and driven only through its public exports (and, for the types, its d.ts)
 * against a real tor (DisableNetwork 1).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatControlAddress } from '../../src/tor/address.js';
import { generateServiceKey } from '../../src/tor/onion/index.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';

const root = path.join(import.meta.dirname, '../..');

// Only what the package exports: this file runs inside the project that installed the tarball.
const PROGRAM = `
import { apply, connect, loadSpec, plan, watch, PlanBlockedError, SpecErrors } from 'tor-reconcile';
const [spec, bad, blocked] = process.argv.slice(2);
const control = process.env.CONTROL;
const out = {};
out.loaded = (await loadSpec(spec)).state.options.map((o) => o.name);
try {
  await loadSpec([bad]);
} catch (err) {
  out.invalid = err instanceof SpecErrors ? \`\${err.errors[0].line}:\${err.errors[0].col}\` : String(err);
}
const before = await plan(spec, { control });
out.before = before.changes.filter((c) => c.action !== 'noop').map((c) => \`\${c.action} \${c.kind} \${c.id}\`);
const steps = [];
const { result } = await apply(spec, { control, onStep: (r) => steps.push(r.status) });
out.applied = { ok: result.ok, steps };
out.after = (await plan(spec, { control })).steps.length;
try {
  await apply(blocked, { control });
} catch (err) {
  out.blocked = err instanceof PlanBlockedError ? true : String(err);
}

const w = watch(spec, { control, debounceMs: 20, onionPollMs: 200, resyncMs: 600_000 });
const triggers = [];
w.on('reconcile', (e) => triggers.push(e.trigger));
const drifted = new Promise((resolve) => w.on('drift', resolve));
await w.start();
const other = await connect({ control });
await other.setConf({ ContactInfo: 'someone-else@example.org' });
const drift = await drifted;
out.drift = { trigger: drift.trigger, reverted: drift.reverted, changes: drift.changes.map((c) => \`\${c.kind}:\${c.id}\`) };
await w.idle();
out.contact = (await other.getConf(['ContactInfo'])).get('ContactInfo');
out.triggers = triggers;
out.health = w.health();
await w.stop();
await other.close();
console.log(JSON.stringify(out));
`;

// Type-checked against the installed d.ts: the API's shapes, and an event name that does not exist.
const TYPED = `
import { apply, plan, watch, type Applied, type Plan, type WatchEvents } from 'tor-reconcile';
const p: Plan = await plan(['a.yaml'], { control: 'unix:/run/tor/control', timeoutMs: 5_000 });
const a: Applied = await apply('a.yaml');
const ok: boolean = a.result.ok && p.errors.length === 0;
const w = watch('a.yaml', { mode: 'warn', onionPollMs: 0 });
w.on('drift', (d: WatchEvents['drift']) => console.log(d.reverted, d.changes[0]?.id, ok));
w.on('error', (e) => console.log(e.source, e.message));
// @ts-expect-error: not an event of watch
w.on('nope', () => {});
const valid: boolean = w.health().specValid;
console.log(valid);
`;

let tor: TestTor;
let dir: string;
beforeAll(async () => {
  tor = await startTestTor();
  dir = await mkdtemp(path.join(os.tmpdir(), 'tr-library-'));
  const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop()!;
  execFileSync('npm', ['init', '-y'], { cwd: dir, stdio: 'ignore' });
  execFileSync('npm', ['install', '--no-audit', '--no-fund', path.join(dir, tarball)], { cwd: dir, stdio: 'ignore' });
}, 180_000);
afterAll(async () => {
  await tor?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the reconciler as a library (installed from the packed tarball)', () => {
  it('loadSpec, plan, apply and watch with events, through the public exports only', async () => {
    const spec = path.join(dir, 'spec.yaml');
    await writeFile(spec, 'version: 1\nstateDirectory: ./state\noptions:\n  ContactInfo: library@example.org\nonionServices:\n  - { name: api, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: 127.0.0.1:9000 }] }\n');
    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, 'version: 1\noptions:\n  NumEntryGuardz: 2\n');
    // Pinned to an address its (missing) key file cannot give: the plan refuses.
    const blocked = path.join(dir, 'blocked.yaml');
    await writeFile(blocked, `version: 1\nstateDirectory: ./state-blocked\nonionServices:\n  - { name: pinned, type: ephemeral, key: { file: ./pinned.key }, address: ${generateServiceKey().address}, ports: [{ port: 80 }] }\n`);
    await writeFile(path.join(dir, 'program.mjs'), PROGRAM);
    const r = spawnSync('node', ['program.mjs', spec, bad, blocked], { cwd: dir, encoding: 'utf8', env: { ...process.env, CONTROL: formatControlAddress(tor.controlAddress) }, timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.loaded).toEqual(['ContactInfo']);
    expect(out.invalid).toBe('3:3');
    expect(out.before).toEqual(['update option ContactInfo', 'create ephemeral-service api']);
    expect(out.applied).toEqual({ ok: true, steps: expect.arrayContaining(['done']) });
    expect(out.applied.steps.every((s: string) => s === 'done')).toBe(true);
    expect(out.after).toBe(0);
    expect(out.blocked).toBe(true);
    expect(out.drift).toEqual({ trigger: 'drift', reverted: true, changes: ['option:ContactInfo'] });
    expect(out.contact).toEqual(['library@example.org']);
    expect(out.triggers).toEqual(['start', 'drift']);
    expect(out.health).toMatchObject({ ok: true, connected: true, specValid: true });
  }, 90_000);

  it('its types: the d.ts describes the API, and refuses an event watch does not have', async () => {
    await writeFile(path.join(dir, 'typed.mts'), TYPED);
    const tsc = path.join(root, 'node_modules/.bin/tsc');
    const args = ['--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--typeRoots', path.join(root, 'node_modules/@types'), 'typed.mts'];
    const r = spawnSync(tsc, args, { cwd: dir, encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    // The same file with the expectation removed: the unknown event is a type error.
    await writeFile(path.join(dir, 'typed.mts'), TYPED.replace('// @ts-expect-error: not an event of watch\n', ''));
    const wrong = spawnSync(tsc, args, { cwd: dir, encoding: 'utf8' });
    expect(wrong.status).not.toBe(0);
    expect(wrong.stdout).toMatch(/typed\.mts\(\d+,\d+\): error TS\d+:.*"nope"/);
  }, 60_000);

  it("README's \"Use it from Node\" example type-checks against the installed package", async () => {
    const readme = await readFile(path.join(root, 'README.md'), 'utf8');
    const example = /^## Use it from Node\n[\s\S]*?^```ts\n([\s\S]*?)^```$/m.exec(readme)?.[1];
    expect(example).toContain("from 'tor-reconcile'");
    await writeFile(path.join(dir, 'readme.mts'), example!);
    const tsc = path.join(root, 'node_modules/.bin/tsc');
    const r = spawnSync(tsc, ['--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--typeRoots', path.join(root, 'node_modules/@types'), 'readme.mts'], { cwd: dir, encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  }, 60_000);
});
