/**
 * What every command needs of the fleet layer before it knows whether the spec has targets: the flags and the
 * one load. The fleet commands themselves (fleet.ts: views, diff rendering, watchers) are imported only when
 * the spec has targets, so that a single-tor command does not pay for them at start-up (docs/performance.md).
 */
import { DEFAULT_PARALLELISM } from '../../fleet/run.js';
import { loadSpec, type LoadOptions, type LoadResult } from '../../spec/index.js';
import type { CliIo } from '../program.js';
import { CliUsageError } from '../report.js';

const collect = (value: string, previous: string[]) => [...previous, value];
export const TARGET_OPTION = ['--target <name>', 'with targets: in the spec, only this target (repeatable)', collect, [] as string[]] as const;
export const PARALLELISM_OPTION = ['--parallelism <n>', `with targets: in the spec, how many targets are applied at once (default ${DEFAULT_PARALLELISM})`] as const;

/** Loads the spec once for a command; `--target` needs a spec that has targets. */
export async function loadForCommand(specs: readonly string[], io: CliIo, targets: readonly string[] = [], confine?: LoadOptions['confine']): Promise<LoadResult> {
  const loaded = await loadSpec(specs, { env: io.env, ...(confine ? { confine } : {}) });
  if (!loaded.state.targets && targets.length) throw new CliUsageError('--target needs a spec with targets:');
  return loaded;
}

