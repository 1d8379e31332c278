import { execFileSync, spawnSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type CliIo } from '../../src/cli/program.js';
import { connect } from '../../src/tor/client.js';
import { loadKeyFile } from '../../src/reconcile/local.js';
import { formatControlAddress } from '../../src/tor/address.js';
import { assertOfflineSpec } from '../helpers/offline.mjs';
import { startTestTor, type TestTor } from '../helpers/tor.js';

const root = path.join(import.meta.dirname, '../..');
const READ_ONLY = new Set(['GETINFO', 'GETCONF', 'ONION_CLIENT_AUTH_VIEW', 'SETEVENTS']);

async function cli(argv: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), env: { TOR_RECONCILE_TRACE: '1', ...env } };
  const code = await run(argv, io);
  const sent = stderr
    .split('\n')
    .filter((l) => l.startsWith('> ') && !l.includes(' round trips '))
    .map((l) => l.slice(2));
  const roundTrips = Number(/(\d+) round trips after authentication/.exec(stderr)?.[1] ?? NaN);
  return { code, stdout, stderr, sent, roundTrips, mutating: sent.filter((c) => !READ_ONLY.has(c.split(' ')[0]!)) };
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-cli-'));
  // Examples resolve relative paths against their own location: apply copies, never the repository.
  await cp(path.join(root, 'examples/specs'), path.join(work, 'specs'), { recursive: true });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('every example spec applied to a fresh tor', () => {
  let tor: TestTor;
  beforeAll(async () => {
    tor = await startTestTor();
  });
  afterAll(async () => {
    await tor?.cleanup();
  });

  it.each(['filesystem-client-auth.yaml', 'ephemeral.yaml', 'hardened-client.yaml'])('%s: applies, reads back, then plans empty and sends nothing', async (name) => {
    const spec = path.join(work, 'specs', name);
    const control = formatControlAddress(tor.controlAddress);
    const first = await cli(['apply', spec, '--control', control]);
    expect(first.stderr).not.toMatch(/internal error/);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.mutating.length).toBeGreaterThan(0);

    const plan = await cli(['plan', spec, '--control', control, '--detailed-exitcode']);
    expect(plan.code, plan.stdout).toBe(0);
    const second = await cli(['apply', spec, '--control', control]);
    expect(second.code).toBe(0);
    expect(second.mutating).toEqual([]);
    // A no-op plan costs one pipelined round trip after authentication.
    expect(second.roundTrips).toBe(1);
    expect(plan.roundTrips).toBe(1);
  });

  it('read-back of the applied examples matches them', async () => {
    const c = tor.client;
    const conf = await c.getConf(['SocksPort', 'MaxCircuitDirtiness', 'SafeSocks', 'NewCircuitPeriod']);
    expect(conf.get('SocksPort')).toEqual(['127.0.0.1:9050 IsolateDestAddr IsolateDestPort']);
    expect(conf.get('MaxCircuitDirtiness')).toEqual(['300']);
    expect(conf.get('SafeSocks')).toEqual(['1']);
    expect(conf.get('NewCircuitPeriod')).toEqual(['30']);
    const block = await c.getConfEntries(['HiddenServiceOptions']);
    expect(block.find(([k]) => k === 'HiddenServiceDir')![1]).toBe(path.join(work, 'specs/.tor-reconcile/hs/intranet'));
    expect(block).toContainEqual(['HiddenServiceNumIntroductionPoints', '5']);
    const clients = await readFile(path.join(work, 'specs/.tor-reconcile/hs/intranet/authorized_clients/alice.auth'), 'utf8');
    expect(clients.trim()).toBe('descriptor:x25519:oz5wp5k4k5jp64uvcatjuthossduz5xirdqmv57e4vmj36iasq2q');
    const detached = (await c.getInfo('onions/detached')).split('\n');
    expect(detached.length).toBeGreaterThanOrEqual(2);
    expect((await c.onionClientAuthView()).map((e) => e.clientName)).toContain('demo');
  });

  it('export → apply → empty plan', async () => {
    const out = path.join(work, 'exported.yaml');
    const control = formatControlAddress(tor.controlAddress);
    const exp = await cli(['export', '--control', control, '-o', out]);
    expect(exp.code, exp.stderr).toBe(0);
    const applied = await cli(['apply', out, '--control', control]);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect(applied.mutating).toEqual([]);
    expect((await cli(['plan', out, '--detailed-exitcode'])).code).toBe(0);
  });
});

describe('saved plans, refusals, formats', () => {
  let tor: TestTor;
  let control: string;
  let spec: string;
  beforeAll(async () => {
    tor = await startTestTor();
    control = formatControlAddress(tor.controlAddress);
    spec = path.join(work, 'opts.yaml');
    await import('node:fs/promises').then((fs) => fs.writeFile(spec, 'version: 1\noptions:\n  ContactInfo: saved-plan@example.org\n  NumEntryGuards: 2\n'));
  });
  afterAll(async () => {
    await tor?.cleanup();
  });

  it('plan --out writes a 0600 plan that apply runs; a stale one is refused', async () => {
    const file = path.join(work, 'plan.json');
    const p = await cli(['plan', spec, '--control', control, '--out', file, '--detailed-exitcode']);
    expect(p.code).toBe(2);
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    // Someone changes tor in between: the saved plan no longer describes what would happen.
    await tor.client.setConf({ NumEntryGuards: '3' });
    const stale = await cli(['apply', file, '--control', control]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/stale plan/);
    expect(stale.mutating).toEqual([]);

    await cli(['plan', spec, '--control', control, '--out', file]);
    const ok = await cli(['apply', file, '--control', control]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.mutating).toEqual(['SETCONF ContactInfo="saved-plan@example.org" NumEntryGuards="2"']);
  });

  it('a saved plan is stale once the state directory it checked has been opened to others', async () => {
    const fs = await import('node:fs/promises');
    const dir = path.join(work, 'stale-local');
    const state = path.join(dir, 'state');
    const specFile = path.join(dir, 'spec.yaml');
    // An option the other tests on this tor leave alone, so that their plans stay what they expect.
    const write = (seconds: number) => fs.writeFile(specFile, `version: 1\nstateDirectory: ${state}\noptions:\n  MaxCircuitDirtiness: ${seconds}\nonionServices:\n  - { name: web, type: ephemeral, key: { generate: true }, ports: [{ port: 80 }] }\n`);
    await fs.mkdir(dir, { recursive: true });
    await write(700);
    expect((await cli(['apply', specFile, '--control', control])).code).toBe(0);
    await write(800);
    const file = path.join(dir, 'plan.json');
    expect((await cli(['plan', specFile, '--control', control, '--out', file])).code).toBe(0);
    // tor has not changed; only what the plan judged on this disk has.
    await fs.chmod(state, 0o755);
    const stale = await cli(['apply', file, '--control', control]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/stale plan: tor's state or the files the plan checked/);
    expect(stale.mutating).toEqual([]);
    await fs.chmod(state, 0o700);
    const ok = await cli(['apply', file, '--control', control]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.mutating).toEqual(['SETCONF MaxCircuitDirtiness="800"']);
    // Its detached service would be an unmanaged one in the plans of the tests after it.
    for (const id of (await tor.client.getInfo('onions/detached')).split('\n').map((x) => x.trim()).filter(Boolean)) await tor.client.delOnion(id);
    await tor.client.resetConf(['MaxCircuitDirtiness']);
  });

  it('a value tor refuses: nothing applied, tor reason shown, exit 1', async () => {
    const bad = path.join(work, 'bad.yaml');
    await import('node:fs/promises').then((fs) => fs.writeFile(bad, 'version: 1\noptions:\n  ContactInfo: not-applied@example.org\n  ConnLimit: 5\n'));
    const r = await cli(['apply', bad, '--control', control]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAILED[\s\S]*tor refused: 553/);
    expect((await tor.client.getConf(['ContactInfo'])).get('ContactInfo')).not.toEqual(['not-applied@example.org']);
  });

  it('an immutable option is reported as needing a restart, and never sent', async () => {
    const imm = path.join(work, 'imm.yaml');
    await import('node:fs/promises').then((fs) => fs.writeFile(imm, 'version: 1\noptions:\n  Sandbox: 1\n'));
    const r = await cli(['apply', imm, '--control', control]);
    // Applied, and a restart is pending (test/integration/restart.test.ts has the rest).
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/needs a tor restart, not sent/);
    expect(r.mutating).toEqual([]);
  });

  it('--wait-published names the services whose descriptors were not uploaded in time', async () => {
    const eph = path.join(work, 'wait.yaml');
    await import('node:fs/promises').then((fs) => fs.writeFile(eph, 'version: 1\nstateDirectory: ./wait-state\nonionServices:\n  - { name: slow, type: ephemeral, key: { generate: true }, ports: [{ port: 80 }] }\n'));
    const started = Date.now();
    const r = await cli(['apply', eph, '--control', control, '--wait-published', '1s']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/published 0\/1 descriptors/);
    expect(r.stderr).toMatch(/not published within 1s: slow \([a-z2-7]{56}\.onion\)/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('json, markdown and github formats', async () => {
    await tor.client.setConf({ NumEntryGuards: '4' });
    const j = await cli(['plan', spec, '--control', control, '--json']);
    const parsed = JSON.parse(j.stdout);
    expect(parsed.format_version).toBe(1);
    expect(parsed.plan.summary.update).toBe(1);
    const md = await cli(['plan', spec, '--control', control, '--format', 'markdown']);
    expect(md.stdout).toMatch(/^### tor-reconcile plan: 0 to add, 1 to change/);
    expect(md.stdout).toContain('```diff');
    const summary = path.join(work, 'summary.md');
    const gh = await cli(['plan', spec, '--control', control, '--format', 'github'], { GITHUB_STEP_SUMMARY: summary });
    expect(gh.code).toBe(0);
    expect(await readFile(summary, 'utf8')).toContain('NumEntryGuards');
  });

  it('diff exits 1 with a unified diff when different, 0 when equal, 2 on error', async () => {
    await tor.client.setConf({ NumEntryGuards: '4' });
    const d = await cli(['diff', spec, '--control', control]);
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(/^-NumEntryGuards 4$/m);
    expect(d.stdout).toMatch(/^\+NumEntryGuards 2$/m);
    await cli(['apply', spec, '--control', control]);
    expect((await cli(['diff', spec, '--control', control])).code).toBe(0);
    expect((await cli(['diff', spec, '--control', 'tcp:127.0.0.1:1'])).code).toBe(2);
  });
});

describe('the embedded tor (README quickstart)', () => {
  it('apply starts tor-reconcile own tor, a later run reuses it, stop stops it', async () => {
    // The quickstart as README runs it: its embedded tor must start with DisableNetwork 1.
    const spec = assertOfflineSpec(path.join(work, 'specs', 'quickstart.yaml'));
    const first = await cli(['apply', spec]);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stderr).toMatch(/starting the embedded tor/);
    const pid = Number(await readFile(path.join(work, 'specs/.tor-data/tor.pid'), 'utf8'));
    // It outlives apply, so apply says what runs, where, and how to end it.
    expect(first.stderr).toContain(`the embedded tor started by this apply keeps running: pid ${pid}`);
    expect(first.stderr).toContain(`data directory  ${path.join(work, 'specs/.tor-data')}`);
    expect(first.stderr).toContain(`control         unix:${path.join(work, 'specs/.tor-data/control.sock')}`);
    expect(first.stderr).toMatch(/network +off \(DisableNetwork 1\)/);
    expect(first.stderr).toContain(`stop it with    tor-reconcile stop ${spec}`);
    const again = await cli(['apply', spec]);
    expect(again.stderr).not.toMatch(/starting the embedded tor/);
    expect(again.stderr).toContain(`the embedded tor from an earlier apply keeps running: pid ${pid}`);
    expect(again.mutating).toEqual([]);
    const stop = await cli(['stop', spec]);
    expect(stop.code).toBe(0);
    expect(() => process.kill(pid, 0)).toThrow();
    // Restarted: the ephemeral service comes back with the key tor-reconcile kept.
    const restored = await cli(['apply', spec]);
    expect(restored.code).toBe(0);
    expect(restored.mutating.map((c) => c.split(' ')[0])).toContain('ADD_ONION');
    const key = await loadKeyFile(path.join(work, 'specs/.tor-reconcile/keys/api.key'));
    const c = await connect({ control: `unix:${path.join(work, 'specs/.tor-data/control.sock')}` });
    expect((await c.getInfo('onions/detached')).split('\n')).toContain(key.address);
    await c.close();
    await cli(['stop', spec]);
  });
});

describe('the published package', () => {
  it('installs from its tarball and runs --help and validate', () => {
    const dir = execFileSync('mktemp', ['-d'], { encoding: 'utf8' }).trim();
    try {
      const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop()!;
      execFileSync('npm', ['init', '-y'], { cwd: dir, stdio: 'ignore' });
      execFileSync('npm', ['install', '--no-audit', '--no-fund', path.join(dir, tarball)], { cwd: dir, stdio: 'ignore' });
      const bin = path.join(dir, 'node_modules/.bin/tor-reconcile');
      const help = spawnSync(bin, ['--help'], { encoding: 'utf8' });
      expect(help.status).toBe(0);
      expect(help.stdout).toContain('apply');
      const valid = spawnSync(bin, ['validate', path.join(root, 'examples/specs/ephemeral.yaml')], { encoding: 'utf8' });
      expect(valid.status, valid.stderr).toBe(0);
      const lib = spawnSync('node', ['--input-type=module', '-e', "import { connect, launch } from 'tor-reconcile'; console.log(typeof connect, typeof launch)"], { cwd: dir, encoding: 'utf8' });
      expect(lib.stdout.trim()).toBe('function function');
    } finally {
      execFileSync('rm', ['-rf', dir]);
    }
  }, 180_000);
});
