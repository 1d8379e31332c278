/**
 * Every command of the CLI, in the order `--help` lists them, each loaded only when it runs: a command's
 * module (and what it needs — yaml, zod, the reconciler) costs start-up time every other command should
 * not pay. A new command is a file here exporting a CliCommand, and a line below:
 *
 *   lint: async () => (await import('./lint.js')).lintCommand,
 */
import type { CliCommand } from '../program.js';

export const commands: Readonly<Record<string, () => Promise<CliCommand>>> = {
  validate: async () => (await import('./validate.js')).validateCommand,
  lint: async () => (await import('./lint.js')).lintCommand,
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
