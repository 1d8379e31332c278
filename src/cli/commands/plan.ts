import { appendFile } from 'node:fs/promises';
import { isEmptyPlan } from '../../reconcile/plan.js';
import { writePlanFile } from '../../reconcile/saved.js';
import type { Plan } from '../../reconcile/types.js';
import { SpecErrors, type SpecDiagnostic } from '../../spec/index.js';
import { CliUsageError } from '../report.js';
import { EXIT_INVALID, type CliCommand, type CliIo } from '../program.js';
import { githubAnnotations, githubDiagnostics, renderHuman, renderJson, renderMarkdown, type PlanFormat } from '../views/plan.js';
import { useColor } from '../views/style.js';
import { parseDuration, TIMEOUT_OPTION } from '../duration.js';
import { fleetPlan, loadForCommand, TARGET_OPTION } from './fleet.js';
import { openSession } from './session.js';

export const EXIT_CHANGES = 2;

interface PlanFlags {
  control?: string;
  json?: boolean;
  format?: PlanFormat;
  out?: string;
  detailedExitcode?: boolean;
  timeout: string;
  target: string[];
}

export async function renderPlan(plan: Plan, format: PlanFormat, io: CliIo): Promise<void> {
  switch (format) {
    case 'json':
      return io.stdout(renderJson(plan));
    case 'markdown':
      return io.stdout(renderMarkdown(plan));
    case 'github': {
      for (const a of githubAnnotations(plan)) io.stdout(`${a}\n`);
      io.stdout(renderHuman(plan, false));
      const summary = io.env.GITHUB_STEP_SUMMARY;
      if (summary) await appendFile(summary, renderMarkdown(plan));
      return;
    }
    default:
      return io.stdout(renderHuman(plan, useColor(process.stdout, io.env)));
  }
}

export const planCommand: CliCommand = {
  register(program, { io, setExitCode }) {
    program
      .command('plan')
      .description('show what apply would change on the live tor, and the exact commands it would send')
      .argument('<spec...>', 'spec files, merged in order')
      .option('--control <address>', 'tor control address (unix:PATH or tcp:HOST:PORT); overrides tor.control')
      .option('--json', 'same as --format json')
      .option('--format <format>', 'human | json | markdown | github (GitHub Actions: an annotation per change and problem, and the markdown summary appended to $GITHUB_STEP_SUMMARY when set)', 'human')
      .option('--out <file>', 'save the plan (mode 0600) for `tor-reconcile apply FILE`')
      .option('--detailed-exitcode', 'exit 0 when in sync, 2 when there are changes (a restart-only option that differs is one; with targets:, on any target), 1 on error')
      .option(...TIMEOUT_OPTION)
      .option(...TARGET_OPTION)
      .addHelpText(
        'after',
        '\nExamples:\n  $ tor-reconcile plan spec.yaml\n  $ tor-reconcile plan spec.yaml --control unix:/run/tor/control --format markdown\n  $ tor-reconcile plan spec.yaml --out plan.json && tor-reconcile apply plan.json\n  $ tor-reconcile plan spec.yaml --format github   # a GitHub Actions step: annotations and the job summary\n',
      )
      .action(async (specs: string[], flags: PlanFlags) => {
        const format: PlanFormat = flags.json ? 'json' : (flags.format ?? 'human');
        if (!['human', 'json', 'markdown', 'github'].includes(format)) throw new CliUsageError(`unknown format ${format}: use human, json, markdown or github`);
        // With --format github the spec's own errors and warnings are annotations as well.
        const annotate = format === 'github' ? (diagnostics: readonly SpecDiagnostic[]) => githubDiagnostics(diagnostics).forEach((a) => io.stdout(`${a}\n`)) : undefined;
        const timeout = parseDuration(flags.timeout, '--timeout');
        const loaded = await loadForCommand(specs, io, flags.target).catch((err: unknown) => {
          if (annotate && err instanceof SpecErrors) annotate([...err.errors, ...err.warnings]);
          throw err;
        });
        if (loaded.state.targets) {
          if (annotate) annotate(loaded.warnings);
          return setExitCode(await fleetPlan(loaded, io, { ...flags, format, timeout }));
        }
        const session = await openSession(specs, io, { loaded, ...(flags.control ? { control: flags.control } : {}), timeout, ...(annotate ? { onWarnings: annotate } : {}) }).catch((err: unknown) => {
          if (annotate && err instanceof SpecErrors) annotate([...err.errors, ...err.warnings]);
          throw err;
        });
        try {
          await renderPlan(session.plan, format, io);
          if (flags.out) {
            await writePlanFile(flags.out, session.plan);
            io.stderr(`plan saved to ${flags.out}; apply it with: tor-reconcile apply ${flags.out}\n`);
          }
        } finally {
          await session.close();
        }
        if (session.plan.errors.length) setExitCode(EXIT_INVALID);
        else if (flags.detailedExitcode && !isEmptyPlan(session.plan)) setExitCode(EXIT_CHANGES);
      });
  },
};
