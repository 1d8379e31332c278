import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// program.js first: it registers the commands, and commands/plan.js imports it back.
import { run, type CliIo } from '../../src/cli/program.js';
import { renderPlan } from '../../src/cli/commands/plan.js';
import { githubAnnotations } from '../../src/cli/views/plan.js';
import type { Plan } from '../../src/reconcile/types.js';

const at = (line: number) => ({ file: 'specs/a,b:c.yaml', line, col: 3 });

const plan: Plan = {
  format_version: 1,
  target: 'unix:/run/tor/control',
  stateDirectory: '/s',
  torVersion: '0.4.9.11',
  liveFingerprint: 'fp',
  specFiles: ['specs/a,b:c.yaml'],
  changes: [
    { kind: 'option', id: 'ContactInfo', action: 'update', reason: 'differs\nfrom 100%', before: ['a'], after: ['b'], source: at(3) },
    { kind: 'option', id: 'Sandbox', action: 'update', reason: 'differs', before: ['0'], after: ['1'], needsRestart: true, source: at(4) },
    { kind: 'option', id: 'Nickname', action: 'noop', reason: 'same', before: ['x'], after: ['x'], source: at(5) },
    { kind: 'ephemeral-service', id: 'api', action: 'create', reason: 'not in tor', before: null, after: { address: 'a'.repeat(56), ports: ['80 127.0.0.1:80'] } },
  ],
  steps: [],
  errors: [{ item: 'option:X', message: 'bad X', source: at(6) }],
  warnings: [{ item: 'option:Y', message: 'odd Y' }],
  summary: { create: 1, update: 2, delete: 0, replace: 0, needsRestart: 1, commands: 1 },
  restart: 'pending',
  addresses: [],
};

describe('--format github', () => {
  it('annotates every change and problem at its spec line, escaped as workflow commands need', () => {
    expect(githubAnnotations(plan)).toEqual([
      '::error file=specs/a%2Cb%3Ac.yaml,line=6,col=3,title=tor-reconcile%3A plan error::bad X',
      '::warning title=tor-reconcile%3A warning::odd Y',
      '::notice file=specs/a%2Cb%3Ac.yaml,line=3,col=3,title=tor-reconcile%3A update option ContactInfo::~ option ContactInfo: differs%0Afrom 100%25',
      '::warning file=specs/a%2Cb%3Ac.yaml,line=4,col=3,title=tor-reconcile%3A update option Sandbox (needs tor restart)::~ option Sandbox: differs — needs a tor restart, not sent: apply exits 3 until tor is restarted',
      '::notice title=tor-reconcile%3A create ephemeral-service api::+ ephemeral-service api: not in tor',
    ]);
  });

  it('writes the annotations and the plan to stdout, and appends the markdown summary to $GITHUB_STEP_SUMMARY', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tr-gh-'));
    try {
      const summary = path.join(dir, 'summary.md');
      let stdout = '';
      const io: CliIo = { stdout: (s) => void (stdout += s), stderr: () => {}, env: { GITHUB_STEP_SUMMARY: summary } };
      await renderPlan(plan, 'github', io);
      await renderPlan(plan, 'github', io);
      expect(stdout.split('\n').filter((l) => l.startsWith('::notice '))).toHaveLength(4);
      expect(stdout).toContain('Plan for unix:/run/tor/control');
      const text = await readFile(summary, 'utf8');
      // Appended, as GitHub expects of every step writing to the job summary.
      expect(text.match(/^### tor-reconcile plan: 1 to add, 2 to change/gm)).toHaveLength(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("annotates the spec's own errors, at their line, before the human report", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tr-gh-'));
    try {
      const spec = path.join(dir, 'bad.yaml');
      await writeFile(spec, 'version: 1\noptions:\n  NoSuchOption: 1\n');
      let stdout = '';
      let stderr = '';
      const code = await run(['plan', spec, '--format', 'github', '--control', 'tcp:127.0.0.1:1'], { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env: {} });
      expect(code).toBe(1);
      expect(stdout).toMatch(new RegExp(`^::error file=${spec.replace(/[/.]/g, '\\$&')},line=3,col=3,title=tor-reconcile%3A spec error::unknown tor option "NoSuchOption"`, 'm'));
      expect(stderr).toContain('NoSuchOption');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is described in plan --help', async () => {
    let stdout = '';
    await run(['plan', '--help'], { stdout: (s) => void (stdout += s), stderr: () => {}, env: {} });
    expect(stdout).toMatch(/GITHUB_STEP_SUMMARY/);
    expect(stdout).toMatch(/--format github/);
  });
});
