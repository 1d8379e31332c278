import { serviceStatus, type StatusReport } from '../../reconcile/status.js';
import type { CliCommand } from '../program.js';
import { parseDuration, TIMEOUT_OPTION } from '../duration.js';
import { fleetStatusCommand, loadForCommand, TARGET_OPTION } from './fleet.js';

const DESCRIPTOR: Record<string, string> = { true: 'built', false: 'none yet', null: '-' };

export function renderStatus(report: StatusReport): string {
  const out = [report.target ? `Onion services of ${report.target}:` : `tor is not running (${report.torNotRunning}); addresses from the key files:`, ''];
  if (!report.services.length) out.push('  (the spec declares no onion service)');
  for (const s of report.services) {
    out.push(`  ${s.name} (${s.type}): ${s.address ? `${s.address}.onion` : '(assigned by tor on apply)'}`);
    out.push(`      ports: ${s.ports.join(', ')}`);
    out.push(`      in tor now: ${s.running ? 'yes' : 'no'}; descriptor: ${DESCRIPTOR[String(s.descriptor)]}`);
  }
  out.push('', 'descriptor "built": tor holds a descriptor it publishes for the service; an upload is only seen as it happens (apply --wait-published).');
  return out.join('\n') + '\n';
}

export const statusCommand: CliCommand = {
  register(program, { io, setExitCode }) {
    program
      .command('status')
      .description("each declared onion service: its address, type, ports, whether tor runs it, and whether tor has built its descriptor")
      .argument('<spec...>', 'spec files, merged in order')
      .option('--control <address>', 'tor control address (unix:PATH or tcp:HOST:PORT); overrides tor.control')
      .option('--json', 'print the status as JSON on stdout')
      .option(...TIMEOUT_OPTION)
      .option(...TARGET_OPTION)
      .addHelpText('after', '\nRead-only: starts no tor and changes nothing. Addresses only, never a key.\n\nExample:\n  $ tor-reconcile status examples/specs/quickstart.yaml --json\n')
      .action(async (specs: string[], flags: { control?: string; json?: boolean; timeout: string; target: string[] }) => {
        const timeout = parseDuration(flags.timeout, '--timeout');
        const loaded = await loadForCommand(specs, io, flags.target);
        if (loaded.state.targets) return setExitCode(await fleetStatusCommand(loaded, io, { ...flags, timeout }));
        const report = await serviceStatus(specs, { loaded, env: io.env, ...(flags.control ? { control: flags.control } : {}), timeout });
        io.stdout(flags.json ? JSON.stringify({ format_version: 1, ...report }, null, 2) + '\n' : renderStatus(report));
      });
  },
};
