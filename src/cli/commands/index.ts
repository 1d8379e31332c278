/**
 * Every command of the CLI, in the order `--help` lists them, each loaded only when it runs: a command's
 * module (and what it needs — yaml, zod, the reconciler) costs start-up time every other command should
 * not pay. A new command is a file here exporting a CliCommand, and a line below:
 *
 *   keys: async () => (await import('./keys.js')).keysCommand,
 */
import type { CliCommand } from '../program.js';
import { specCommands } from './spec-commands.js';

export const commands: Readonly<Record<string, () => Promise<CliCommand>>> = {
  // validate and lint: in spec-commands.ts, as the bin runs them from a bundle of their own.
  ...specCommands,
  plan: async () => (await import('./plan.js')).planCommand,
  apply: async () => (await import('./apply.js')).applyCommand,
  diff: async () => (await import('./diff.js')).diffCommand,
  status: async () => (await import('./status.js')).statusCommand,
  export: async () => (await import('./export.js')).exportCommand,
  stop: async () => (await import('./stop.js')).stopCommand,
  watch: async () => (await import('./watch.js')).watchCommand,
  check: async () => (await import('./check.js')).checkCommand,
  keys: async () => (await import('./keys.js')).keysCommand,
  schema: async () => (await import('./schema.js')).schemaCommand,
};
