/** Every command of the CLI, in the order `--help` lists them. A new command is a file here and a line below. */
import type { CliCommand } from '../program.js';
import { applyCommand } from './apply.js';
import { checkCommand } from './check.js';
import { diffCommand } from './diff.js';
import { exportCommand } from './export.js';
import { keysCommand } from './keys.js';
import { lintCommand } from './lint.js';
import { planCommand } from './plan.js';
import { schemaCommand } from './schema.js';
import { statusCommand } from './status.js';
import { stopCommand } from './stop.js';
import { validateCommand } from './validate.js';
import { watchCommand } from './watch.js';

export const commands: readonly CliCommand[] = [validateCommand, lintCommand, planCommand, applyCommand, diffCommand, statusCommand, exportCommand, stopCommand, watchCommand, checkCommand, keysCommand, schemaCommand];
