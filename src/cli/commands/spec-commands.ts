/**
 * The commands that only read specs, the first in `--help`. The bin runs them from a bundle of their own,
 * built with this table in place of index.ts (scripts/build-cli.mjs): half the bytes of the full command line
 * to read and compile on every `validate` (issue #16).
 */
import type { CliCommand } from '../program.js';

export const specCommands = {
  validate: async () => (await import('./validate.js')).validateCommand,
  lint: async () => (await import('./lint.js')).lintCommand,
} as const satisfies Readonly<Record<string, () => Promise<CliCommand>>>;

/** What the spec bundle's program.ts imports as `commands`. */
export const commands: Readonly<Record<string, () => Promise<CliCommand>>> = specCommands;
