import { specJsonSchema } from '../../spec/index.js';
import type { CliCommand } from '../program.js';

/** The spec's JSON Schema, for editors (yaml-language-server) and other tools. */
export const schemaCommand: CliCommand = {
  register(program, { io }) {
    program
      .command('schema')
      .description('print the JSON Schema (draft-07) of spec files, for editors and other tools')
      .addHelpText(
        'after',
        '\nExample:\n  $ tor-reconcile schema > schema/tor-reconcile.schema.json\n\nThen start a spec with:\n  # yaml-language-server: $schema=../../schema/tor-reconcile.schema.json\n',
      )
      .action(() => {
        io.stdout(`${JSON.stringify(specJsonSchema(), null, 2)}\n`);
      });
  },
};
