import { stopEmbedded } from '../../reconcile/target.js';
import { loadSpec } from '../../spec/index.js';
import type { CliCommand } from '../program.js';

export const stopCommand: CliCommand = {
  register(program, { io }) {
    program
      .command('stop')
      .description('stop the embedded tor that `apply` started for a spec with tor.launch')
      .argument('<spec...>', 'spec files, merged in order')
      .addHelpText('after', '\nDetached (ephemeral) onion services end with tor; the next apply restores them with their keys.\n\nExample:\n  $ tor-reconcile stop examples/specs/quickstart.yaml\n')
      .action(async (specs: string[]) => {
        const { state } = await loadSpec(specs, { env: io.env });
        const stopped = await stopEmbedded(state);
        io.stderr(stopped ? `stopped the embedded tor (${state.tor.launch!.dataDirectory})\n` : 'the embedded tor was not running\n');
      });
  },
};
