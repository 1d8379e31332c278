/**
 * docs/gitops.md (issue #21): its GitHub Actions workflow is valid YAML of the shape Actions needs, plans with
 * --control on pull requests (the spec's own control address is the pull request's to choose), applies the
 * saved plan on main, and every tor-reconcile command in it uses only options that command has.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cliInProcess as cli } from '../helpers/cli.js';

interface Step { name?: string; uses?: string; run?: string; if?: string; with?: Record<string, unknown> }
interface Job { 'runs-on': unknown; if?: string; steps: Step[]; permissions?: Record<string, string> }
interface Workflow { name: string; on: Record<string, unknown>; jobs: Record<string, Job>; permissions?: Record<string, string> }

async function workflow(): Promise<Workflow> {
  const text = await readFile(path.join(import.meta.dirname, '../../docs/gitops.md'), 'utf8');
  const blocks = [...text.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  expect(blocks).toHaveLength(1);
  return parse(blocks[0]!, { strict: true, uniqueKeys: true }) as Workflow;
}

/** The tor-reconcile command lines of a job's `run` steps. */
function commands(job: Job): string[][] {
  return job.steps
    .flatMap((s) => (s.run ?? '').split('\n'))
    .map((l) => l.trim())
    .filter((l) => l.startsWith('tor-reconcile '))
    .map((l) => l.replace(/\s*(>|\|\||&&).*$/, '').split(/\s+/).slice(1));
}

describe('docs/gitops.md workflow', () => {
  it('is a workflow: pull_request (never pull_request_target) plans, push to main applies', async () => {
    const wf = await workflow();
    expect(Object.keys(wf.on).sort()).toEqual(['pull_request', 'push']);
    expect(wf.permissions).toEqual({ contents: 'read' });
    expect(Object.keys(wf.jobs).sort()).toEqual(['apply', 'plan']);
    for (const job of Object.values(wf.jobs)) {
      expect(job['runs-on']).toBeDefined();
      expect(job.steps.length).toBeGreaterThan(1);
      for (const step of job.steps) expect(Boolean(step.uses) !== Boolean(step.run), JSON.stringify(step)).toBe(true);
    }
    expect(wf.jobs.plan!.if).toContain("'pull_request'");
    expect(wf.jobs.apply!.if).toContain("'push'");
  });

  it('plans read-only with --control, comments markdown, annotates; applies a saved plan with --detailed-exitcode', async () => {
    const wf = await workflow();
    const plan = commands(wf.jobs.plan!);
    expect(plan.every((c) => c[0] === 'plan' && c.includes('--control')), JSON.stringify(plan)).toBe(true);
    expect(plan.map((c) => c[c.indexOf('--format') + 1])).toEqual(['github', 'markdown']);
    expect(wf.jobs.plan!.steps.some((s) => s.uses?.startsWith('actions/github-script@') && String(s.with?.script).includes('createComment'))).toBe(true);
    const apply = commands(wf.jobs.apply!);
    expect(apply.map((c) => c[0])).toEqual(['plan', 'apply']);
    expect(apply[0]).toEqual(expect.arrayContaining(['--out', '--detailed-exitcode', '--control']));
    expect(apply[1]![1]).toBe(apply[0]![apply[0]!.indexOf('--out') + 1]);
  });

  it('uses only options the commands have', async () => {
    const wf = await workflow();
    for (const argv of Object.values(wf.jobs).flatMap(commands)) {
      const help = await cli([argv[0]!, '--help']);
      expect(help.code).toBe(0);
      for (const flag of argv.filter((a) => a.startsWith('--'))) expect(help.stdout, `${argv[0]} ${flag}`).toContain(flag);
    }
  });
});
