import { createTwoFilesPatch } from 'diff';
import type { Plan } from '../../reconcile/types.js';
import type { CliCommand } from '../program.js';
import { changeLines } from '../views/lines.js';
import { restartWarnings } from '../views/plan.js';
import { describeError } from '../report.js';
import { parseDuration, TIMEOUT_OPTION } from '../duration.js';
import { ALLOW_PATH_OPTION, confineFlag } from '../allow-path.js';
import { loadForCommand, TARGET_OPTION } from './fleet-load.js';
import { openPlanSession } from './session.js';

/** The managed configuration as torrc text, live side or desired side. */
export function managedText(plan: Plan, side: 'before' | 'after'): string {
  const lines: string[] = [];
  for (const c of plan.changes) {
    // A noop's before and after are equal; restart-only changes still differ and are shown.
    const block = changeLines(c, c.action === 'noop' ? 'before' : side);
    if (block.length) lines.push(...block, '');
  }
  return lines.join('\n');
}

export const diffCommand: CliCommand = {
  register(program, { io, setExitCode }) {
    program
      .command('diff')
      .description('unified diff, in torrc syntax, of the live managed configuration against the spec')
      .argument('<spec...>', 'spec files, merged in order')
      .option('--control <address>', 'tor control address (unix:PATH or tcp:HOST:PORT); overrides tor.control')
      .option(...TIMEOUT_OPTION)
      .option(...ALLOW_PATH_OPTION)
      .option(...TARGET_OPTION)
      .addHelpText('after', '\nExit status (as GNU diff): 0 same, 1 different, 2 error.\n\nExample:\n  $ tor-reconcile diff spec.yaml --control unix:/run/tor/control\n')
      .action(async (specs: string[], flags: { control?: string; timeout: string; allowPath: string[]; target: string[] }) => {
        try {
          const timeout = parseDuration(flags.timeout, '--timeout');
          const confine = confineFlag(flags.allowPath);
          const loaded = await loadForCommand(specs, io, flags.target, confine);
          if (loaded.state.targets) return setExitCode(await (await import('./fleet.js')).fleetDiff(loaded, io, specs, { ...flags, timeout }));
          const session = await openPlanSession(specs, io, { loaded, ...(flags.control ? { control: flags.control } : {}), confine, timeout });
          await session.close();
          const before = managedText(session.plan, 'before');
          const after = managedText(session.plan, 'after');
          if (before === after) {
            // The same now, maybe not after tor's next restart: said, though the status stays "same" (apply has nothing to do).
            for (const w of restartWarnings(session.plan)) io.stderr(`warning: ${w}\n`);
            return setExitCode(0);
          }
          io.stdout(createTwoFilesPatch(session.target ? `live (${session.target.address})` : `embedded tor at its start, not running yet (${session.plan.launch?.dataDirectory ?? ''})`, `spec (${specs.join(', ')})`, before, after, '', '', { context: 3 }));
          setExitCode(1);
        } catch (err) {
          io.stderr(describeError(err).text);
          setExitCode(2);
        }
      });
  },
};
