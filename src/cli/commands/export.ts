import { writeFile } from 'node:fs/promises';
import { exportSpec } from '../../reconcile/export.js';
import { openTarget } from '../../reconcile/target.js';
import { loadSpec } from '../../spec/index.js';
import { formatControlAddress, parseControlAddress } from '../../tor/address.js';
import { connect } from '../../tor/client.js';
import { CliUsageError } from '../report.js';
import { Secret } from '../../tor/secret.js';
import type { CliCommand } from '../program.js';

export const exportCommand: CliCommand = {
  register(program, { io }) {
    program
      .command('export')
      .description("write a live tor's configuration (non-default options, filesystem onion services) as a spec")
      .argument('[spec...]', "use this spec's tor (tor.control or its embedded tor) instead of --control")
      .option('--control <address>', 'tor control address (unix:PATH or tcp:HOST:PORT)')
      .option('--password-env <name>', 'environment variable holding the control password')
      .option('-o, --output <file>', 'write the spec here (default: stdout)')
      .addHelpText('after', '\nApplying the exported spec back to the same tor plans no change: the way to adopt an existing tor.\n\nExample:\n  $ tor-reconcile export --control unix:/run/tor/control -o tor.yaml\n')
      .action(async (specs: string[], flags: { control?: string; passwordEnv?: string; output?: string }) => {
        let client;
        if (flags.control) {
          let password: Secret<string> | undefined;
          if (flags.passwordEnv) {
            const value = io.env[flags.passwordEnv];
            if (value === undefined) throw new CliUsageError(`--password-env: environment variable ${flags.passwordEnv} is not set`);
            password = new Secret(value);
          }
          client = await connect({ control: parseControlAddress(flags.control), ...(password ? { password } : {}) });
        } else if (specs.length) {
          const { state } = await loadSpec(specs, { env: io.env });
          client = (await openTarget(state, { start: false })).client;
        } else throw new CliUsageError('export needs --control ADDRESS or a spec whose tor to export');
        try {
          const text = await exportSpec(client, { control: formatControlAddress(client.connection.address) });
          if (flags.output) {
            await writeFile(flags.output, text, { mode: 0o600 });
            io.stderr(`wrote ${flags.output}\n`);
          } else io.stdout(text);
        } finally {
          await client.close();
        }
      });
  },
};
