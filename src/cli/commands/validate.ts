import type { DesiredState } from '../../spec/index.js';
import { loadSpec, SpecErrors } from '../../spec/index.js';
import { ALLOW_PATH_OPTION, confineFlag } from '../allow-path.js';
import { EXIT_INVALID, formatReport, plural, type CliCommand } from '../program.js';

/** Checks spec files without a tor: everything but what only a running tor can tell. */
export const validateCommand: CliCommand = {
  register(program, { io, setExitCode }) {
    program
      .command('validate')
      .description('check spec files offline: YAML, schema, tor option names and values, onion addresses and keys')
      .argument('<spec...>', 'spec files, merged in order (later files win key by key; lists are replaced)')
      .option('--json', 'print the result as JSON on stdout: { valid, errors, warnings }')
      .option(...ALLOW_PATH_OPTION)
      .addHelpText(
        'after',
        '\nExit status: 0 valid, 1 invalid, 2 bad command line.\n\nExamples:\n  $ tor-reconcile validate spec.yaml\n  $ tor-reconcile validate base.yaml prod.yaml --json\n',
      )
      .action(async (specs: string[], options: { json?: boolean; allowPath: string[] }) => {
        if (!options.json) {
          // A SpecErrors goes to the CLI's handler, which prints it with the warnings.
          const { state, warnings } = await loadSpec(specs, { env: io.env, confine: confineFlag(options.allowPath) });
          io.stderr(formatReport(warnings));
          io.stdout(`${specs.join(', ')}: valid (${summary(state)})\n`);
          return;
        }
        try {
          const { warnings } = await loadSpec(specs, { env: io.env, confine: confineFlag(options.allowPath) });
          io.stdout(`${JSON.stringify({ valid: true, errors: [], warnings }, null, 2)}\n`);
        } catch (err) {
          if (!(err instanceof SpecErrors)) throw err;
          io.stdout(`${JSON.stringify({ valid: false, errors: err.errors, warnings: err.warnings }, null, 2)}\n`);
          setExitCode(EXIT_INVALID);
        }
      });
  },
};

/** `3 targets, 1 option, 3 onion services (1 filesystem, 1 ephemeral, 1 balanced), …`; targets only in a fleet spec. */
function summary(state: DesiredState): string {
  const fs = state.onionServices.filter((s) => s.type === 'filesystem').length;
  const eph = state.onionServices.length - fs;
  // Balanced services are kept apart from onionServices (the fleet layer derives each backend's): counted here too.
  const balanced = state.balanced?.length ?? 0;
  const kinds = [`${fs} filesystem`, `${eph} ephemeral`, ...(balanced ? [`${balanced} balanced`] : [])];
  const parts = [
    ...(state.targets ? [plural(state.targets.length, 'target')] : []),
    plural(state.options.length, 'option'),
    `${plural(state.onionServices.length + balanced, 'onion service')} (${kinds.join(', ')})`,
    plural(state.clientAuth.length, 'client authorization'),
  ];
  return parts.join(', ');
}
