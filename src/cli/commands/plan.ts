import { appendFile } from 'node:fs/promises';
import { isEmptyPlan } from '../../reconcile/plan.js';
import { writePlanFile } from '../../reconcile/saved.js';
import type { Plan } from '../../reconcile/types.js';
import { SpecErrors, type SpecDiagnostic } from '../../spec/index.js';
import { CliUsageError } from '../report.js';
import { EXIT_INVALID, type CliCommand, type CliIo } from '../program.js';
import { githubAnnotations, githubDiagnostics, renderHuman, renderJson, renderMarkdown, type PlanFormat } from '../views/plan.js';
import { useColor } from '../views/style.js';
import { withLintFindings } from '../plan-lint.js';
import { parseDuration, TIMEOUT_OPTION } from '../duration.js';
import { ALLOW_PATH_OPTION, confineFlag } from '../allow-path.js';
import { loadForCommand, TARGET_OPTION } from './fleet-load.js';
import { openPlanSession } from './session.js';

export const EXIT_CHANGES = 2;

interface PlanFlags {
  control?: string;
  json?: boolean;
  format?: PlanFormat;
  out?: string;
  detailedExitcode?: boolean;
  lintStrict?: boolean;
  timeout: string;
  allowPath: string[];
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
      .option('--lint-strict', "block the plan (exit 1, --out saves nothing) when `tor-reconcile lint` finds an error or a warning; without it they are shown among the warnings")
      .option(...TIMEOUT_OPTION)
      .option(...ALLOW_PATH_OPTION)
      .option(...TARGET_OPTION)
      .addHelpText(
        'after',
        '\nRead-only: starts no process, writes no file but --out\'s, connects only to the control address. A tor.launch\nspec whose tor is not running is planned against the configuration that tor would start with.\n\nExamples:\n  $ tor-reconcile plan spec.yaml\n  $ tor-reconcile plan spec.yaml --control unix:/run/tor/control --format markdown\n  $ tor-reconcile plan spec.yaml --out plan.json && tor-reconcile apply plan.json\n  $ tor-reconcile plan spec.yaml --format github   # a GitHub Actions step: annotations and the job summary\n',
      )
      .action(async (specs: string[], flags: PlanFlags) => {
        const format: PlanFormat = flags.json ? 'json' : (flags.format ?? 'human');
        if (!['human', 'json', 'markdown', 'github'].includes(format)) throw new CliUsageError(`unknown format ${format}: use human, json, markdown or github`);
        // With --format github the spec's own errors and warnings are annotations as well.
        const annotate = format === 'github' ? (diagnostics: readonly SpecDiagnostic[]) => githubDiagnostics(diagnostics).forEach((a) => io.stdout(`${a}\n`)) : undefined;
        const timeout = parseDuration(flags.timeout, '--timeout');
        const confine = confineFlag(flags.allowPath);
        const loaded = await loadForCommand(specs, io, flags.target, confine).catch((err: unknown) => {
          if (annotate && err instanceof SpecErrors) annotate([...err.errors, ...err.warnings]);
          throw err;
        });
        if (loaded.state.targets) {
          if (annotate) annotate(loaded.warnings);
          return setExitCode(await (await import('./fleet.js')).fleetPlan(loaded, io, { ...flags, format, timeout }));
        }
        const session = await openPlanSession(specs, io, { loaded, ...(flags.control ? { control: flags.control } : {}), confine, timeout, ...(annotate ? { onWarnings: annotate } : {}) }).catch((err: unknown) => {
          if (annotate && err instanceof SpecErrors) annotate([...err.errors, ...err.warnings]);
          throw err;
        });
        let plan = session.plan;
        try {
          plan = await withLintFindings(session.plan, specs, session.desired, flags.lintStrict ?? false);
          await renderPlan(plan, format, io);
          // apply re-plans a saved plan without linting it: a plan lint blocks is not saved at all.
          const lintBlocked = plan.errors.some((e) => e.item.startsWith('lint:'));
          if (flags.out && lintBlocked) io.stderr(`plan not saved to ${flags.out}: --lint-strict and lint findings block it\n`);
          else if (flags.out) {
            await writePlanFile(flags.out, plan);
            io.stderr(`plan saved to ${flags.out}; apply it with: tor-reconcile apply ${flags.out}\n`);
          }
        } finally {
          await session.close();
        }
        if (plan.errors.length) setExitCode(EXIT_INVALID);
        else if (flags.detailedExitcode && !isEmptyPlan(plan)) setExitCode(EXIT_CHANGES);
      });
  },
};
