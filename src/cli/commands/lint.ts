import { activeFindings, allRuleDocs, lintFiles } from '../../lint/index.js';
import { CliUsageError, formatReport } from '../report.js';
import { EXIT_INVALID, type CliCommand } from '../program.js';
import { version } from '../version.js';
import { renderLintHuman, renderLintJson, renderLintSarif } from '../views/lint.js';

const FORMATS = ['human', 'json', 'sarif'] as const;
type LintFormat = (typeof FORMATS)[number];

/** Security lint of spec files: offline and read-only (the spec files are read, nothing else). */
export const lintCommand: CliCommand = {
  register(program, { io, setExitCode }) {
    program
      .command('lint')
      .description('check spec files for configurations that deanonymize, expose or break a tor (offline, read-only)')
      .argument('<spec...>', 'spec files, merged in order')
      .option('--format <format>', 'human | json | sarif (SARIF 2.1.0, for GitHub code scanning)', 'human')
      .option('--max-warnings <n>', 'also exit 1 when more than N warnings remain')
      .addHelpText(
        'after',
        '\nRules, their reasons and fixes: docs/lint-rules.md. Suppress a finding with a comment on its line or the line above:\n  # tor-reconcile: ignore TR004 -- reason\n\nExit status: 0 no error-level finding (and at most --max-warnings warnings), 1 otherwise or an invalid spec, 2 bad command line.\n\nExamples:\n  $ tor-reconcile lint spec.yaml\n  $ tor-reconcile lint base.yaml prod.yaml --max-warnings 0\n  $ tor-reconcile lint spec.yaml --format sarif > tor-reconcile.sarif\n',
      )
      .action(async (specs: string[], flags: { format: string; maxWarnings?: string }) => {
        const format = flags.format as LintFormat;
        if (!FORMATS.includes(format)) throw new CliUsageError(`unknown format ${flags.format}: use human, json or sarif`);
        const maxWarnings = flags.maxWarnings === undefined ? undefined : Number(flags.maxWarnings);
        if (maxWarnings !== undefined && !(Number.isInteger(maxWarnings) && maxWarnings >= 0)) throw new CliUsageError(`--max-warnings ${flags.maxWarnings}: give a whole number, 0 or more`);
        // A spec that does not load goes to the CLI's handler, reported as validate reports it.
        const { result, load } = await lintFiles(specs, io.env);
        if (format === 'human') io.stderr(formatReport(load.warnings));
        const out = format === 'json' ? renderLintJson(result) : format === 'sarif' ? renderLintSarif(result, allRuleDocs, version(), process.cwd()) : renderLintHuman(result);
        io.stdout(out);
        const active = activeFindings(result);
        const warnings = active.filter((f) => f.severity === 'warning').length;
        if (active.some((f) => f.severity === 'error') || (maxWarnings !== undefined && warnings > maxWarnings)) setExitCode(EXIT_INVALID);
      });
  },
};
