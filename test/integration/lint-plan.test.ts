/**
 * `plan` against a real tor (DisableNetwork 1) shows the spec's lint findings among its warnings and still
 * succeeds; with --lint-strict they block the plan, and a saved blocked plan is refused by apply.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatControlAddress } from '../../src/tor/address.js';
import { cliInProcess } from '../helpers/cli.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';

describe('plan runs the linter', () => {
  let tor: TestTor;
  let control: string;
  let work: string;
  let spec: string;
  beforeAll(async () => {
    tor = await startTestTor();
    control = formatControlAddress(tor.controlAddress);
    work = await mkdtemp(path.join(os.tmpdir(), 'lint-plan-'));
    spec = path.join(work, 'spec.yaml');
    // TR020 (warning) and TR023 (warning), one suppressed with a reason; notes never reach plan.
    await writeFile(spec, 'version: 1\noptions:\n  ExcludeNodes: "{zz}"\n  UseEntryGuards: false # tor-reconcile: ignore TR023 -- a throwaway test tor\n');
  }, 120_000);
  afterAll(async () => {
    await tor?.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  it('shows unsuppressed findings among the warnings, at their place, and does not block', async () => {
    const r = await cliInProcess(['plan', spec, '--control', control]);
    expect(r.code, r.stderr).toBe(0);
    const warnings = r.stdout.slice(r.stdout.indexOf('Warnings:'));
    expect(warnings).toContain(`${spec}:3:17: lint TR020 (warning): ExcludeNodes {zz} without StrictNodes 1`);
    expect(r.stdout).not.toContain('TR023');
    const json = JSON.parse((await cliInProcess(['plan', spec, '--control', control, '--format', 'json'])).stdout) as { plan: { warnings: Array<{ item: string }>; errors: unknown[] } };
    expect(json.plan.warnings.map((w) => w.item)).toContain('lint:TR020');
    expect(json.plan.errors).toEqual([]);
  }, 60_000);

  it('--lint-strict blocks: exit 1, the finding among the errors, and no plan file to apply', async () => {
    const out = path.join(work, 'plan.json');
    const r = await cliInProcess(['plan', spec, '--control', control, '--lint-strict', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stdout.slice(r.stdout.indexOf('Errors (the plan cannot be applied):'))).toContain('lint TR020 (warning)');
    expect(r.stderr).toContain(`plan not saved to ${out}: --lint-strict and lint findings block it`);
    expect(existsSync(out)).toBe(false);
    // Without findings --lint-strict changes nothing.
    const clean = path.join(work, 'clean.yaml');
    await writeFile(clean, 'version: 1\noptions:\n  ExcludeNodes: "{zz}"\n  StrictNodes: true\n');
    const ok = await cliInProcess(['plan', clean, '--control', control, '--lint-strict', '--out', out]);
    expect(ok.code, ok.stdout).toBe(0);
    expect(existsSync(out)).toBe(true);
  }, 60_000);
});
