/**
 * Issue #21: `plan` and `diff` of a tor.launch spec whose tor is not running start nothing and write
 * nothing; they plan against what that tor would start with and say apply will launch it. And that
 * prediction is right: the plan against the freshly started tor is the same plan.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTarget, stopEmbedded } from '../../src/reconcile/target.js';
import type { Plan } from '../../src/reconcile/types.js';
import { loadSpec } from '../../src/spec/index.js';
import { cliInProcess as cli } from '../helpers/cli.js';
import { assertOfflineSpec } from '../helpers/offline.mjs';

let work: string;
let spec: string;
let dataDir: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-ro-'));
  spec = path.join(work, 'spec.yaml');
  dataDir = path.join(work, '.tor-data');
  await writeFile(
    spec,
    [
      'version: 1',
      'tor:',
      '  launch:',
      '    options: { DisableNetwork: 1 }',
      'options:',
      '  SocksPort: auto',
      '  MaxCircuitDirtiness: 10 minutes',
      '  AvoidDiskWrites: true',
      '  ContactInfo: null',
      'onionServices:',
      '  - { name: web, type: filesystem, directory: ./hs/web, ports: [{ port: 80, target: 127.0.0.1:8080 }] }',
      '  - { name: api, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: 8000 }] }',
      '',
    ].join('\n'),
  );
  assertOfflineSpec(spec);
});

afterAll(async () => {
  const { state } = await loadSpec([spec]);
  await stopEmbedded(state).catch(() => false);
  await rm(work, { recursive: true, force: true });
});

/** What a plan would do, without what names the tor it was computed against. */
function doing(plan: Plan) {
  return {
    changes: plan.changes.map((c) => ({ kind: c.kind, id: c.id, action: c.action, before: c.before, after: c.after })),
    steps: plan.steps.map((s) => s.display),
    errors: plan.errors,
  };
}

describe('plan of a tor.launch spec whose tor is not running', () => {
  let offline: Plan;

  it('starts no tor and writes nothing, and says apply will launch tor', async () => {
    const human = await cli(['plan', spec, '--detailed-exitcode']);
    expect(human.stderr).toBe('');
    expect(human.stdout).toContain('tor will be launched by apply');
    expect(human.stdout).toContain('Nothing was started.');
    // Changes to make, and tor to start: never "in sync".
    expect(human.code).toBe(2);
    const json = await cli(['plan', spec, '--json']);
    expect(json.code).toBe(0);
    offline = (JSON.parse(json.stdout) as { plan: Plan }).plan;
    expect(offline.launch).toEqual({ binary: 'tor', dataDirectory: dataDir });
    const markdown = await cli(['plan', spec, '--format', 'markdown']);
    expect(markdown.stdout).toContain('tor will be launched by apply');
    const github = await cli(['plan', spec, '--format', 'github']);
    expect(github.stdout).toMatch(/^::notice title=tor-reconcile%3A tor will be launched by apply::tor will be launched by apply/m);
    const diff = await cli(['diff', spec]);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toContain('+AvoidDiskWrites 1');
    expect(diff.stdout).toContain('embedded tor at its start, not running yet');
    // Not the data directory, not the state directory, not the service directory: nothing was created.
    for (const dir of [dataDir, path.join(work, '.tor-reconcile'), path.join(work, 'hs')]) expect(existsSync(dir), dir).toBe(false);
  });

  it('plans what the plan against the freshly started tor plans', async () => {
    const { state } = await loadSpec([spec]);
    // The tor apply would start, started the way apply starts it, then planned against like any running tor.
    const target = await openTarget(state, { start: true, child: true });
    try {
      const json = await cli(['plan', spec, '--json']);
      expect(json.code).toBe(0);
      const online = (JSON.parse(json.stdout) as { plan: Plan }).plan;
      expect(online.launch).toBeUndefined();
      expect(doing(offline)).toEqual(doing(online));
    } finally {
      await target.client.close();
    }
  }, 120_000);

  it('after an apply and a stop, it plans against what the drop-in apply persisted', async () => {
    const { state } = await loadSpec([spec]);
    await stopEmbedded(state);
    expect((await cli(['apply', spec])).code).toBe(0);
    expect(await stopEmbedded(state)).toBe(true);
    const json = await cli(['plan', spec, '--json']);
    const stopped = (JSON.parse(json.stdout) as { plan: Plan }).plan;
    expect(stopped.launch).toBeDefined();
    // The persisted options and services come back at the start; the ephemeral service is added again.
    expect(stopped.changes.filter((c) => c.action !== 'noop').map((c) => `${c.kind} ${c.id}`)).toEqual(['ephemeral-service api']);
    const target = await openTarget(state, { start: true, child: true });
    try {
      const online = (JSON.parse((await cli(['plan', spec, '--json'])).stdout) as { plan: Plan }).plan;
      expect(doing(stopped)).toEqual(doing(online));
    } finally {
      await target.client.close();
    }
  }, 120_000);

  it('a saved plan made while tor was not running is refused by apply before anything starts', async () => {
    const { state } = await loadSpec([spec]);
    await stopEmbedded(state);
    const out = path.join(work, 'plan.json');
    expect((await cli(['plan', spec, '--out', out])).code).toBe(0);
    const apply = await cli(['apply', out]);
    expect(apply.code).not.toBe(0);
    expect(apply.stderr).toContain('planned while the embedded tor was not running');
    expect(existsSync(path.join(dataDir, 'control.sock'))).toBe(false);
  }, 60_000);
});
