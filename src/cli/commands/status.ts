import { serviceStatus, type StatusReport } from '../../reconcile/status.js';
import type { OnionServiceHealth } from '../../reconcile/watch.js';
import type { CliCommand } from '../program.js';
import { parseDuration, TIMEOUT_OPTION } from '../duration.js';
import { ALLOW_PATH_OPTION, confineFlag } from '../allow-path.js';
import { loadForCommand, TARGET_OPTION } from './fleet-load.js';

const DESCRIPTOR: Record<string, string> = { true: 'built', false: 'none yet', null: '-' };

export function renderStatus(report: StatusReport): string {
  const out = [report.target ? `Onion services of ${report.target}:` : `tor is not running (${report.torNotRunning}); addresses from the key files:`, ''];
  if (!report.services.length) out.push('  (the spec declares no onion service)');
  for (const s of report.services) {
    out.push(`  ${s.name} (${s.type}): ${s.address ? `${s.address}.onion` : '(assigned by tor on apply)'}`);
    out.push(`      ports: ${s.ports.join(', ')}`);
    out.push(`      in tor now: ${s.running ? 'yes' : 'no'}; descriptor: ${DESCRIPTOR[String(s.descriptor)]}`);
    if (s.health) out.push(...renderHealth(s.health));
  }
  if (report.watch?.error) out.push('', `watch at ${report.watch.url} did not answer: ${report.watch.error}`);
  else if (report.watch) out.push('', `health as seen by watch (${report.watch.url}); self-check: ${report.watch.checks}`);
  out.push('', 'descriptor "built": tor holds a descriptor it publishes for the service; an upload is only seen as it happens (apply --wait-published).');
  return out.join('\n') + '\n';
}

function renderHealth(h: OnionServiceHealth): string[] {
  const ago = (ms: number) => `${Math.round((Date.now() - ms) / 1000)} s ago`;
  const u = h.uploads;
  const check = !h.check ? 'not run' : h.check.ok ? `reachable in ${h.check.latencyMs} ms (${ago(h.check.at)})` : `UNREACHABLE (${ago(h.check.at)}): ${h.check.error}`;
  return [
    `      descriptor uploads: ${u.uploaded} accepted, ${u.failed} failed of ${u.attempts}; last accepted: ${h.lastUpload ? ago(h.lastUpload) : 'none seen'}`,
    `      introduction points: ${h.introPoints ?? 'not counted yet'}; self-check: ${check}`,
  ];
}

export const statusCommand: CliCommand = {
  register(program, { io, setExitCode }) {
    program
      .command('status')
      .description("each declared onion service: its address, type, ports, whether tor runs it, and whether tor has built its descriptor")
      .argument('<spec...>', 'spec files, merged in order')
      .option('--control <address>', 'tor control address (unix:PATH or tcp:HOST:PORT); overrides tor.control')
      .option('--json', 'print the status as JSON on stdout')
      .option('--watch <host:port>', "add the services' health as a running `watch --listen HOST:PORT` sees it (uploads, intro points, self-check)")
      .option(...TIMEOUT_OPTION)
      .option(...ALLOW_PATH_OPTION)
      .option(...TARGET_OPTION)
      .addHelpText('after', '\nRead-only: starts no tor and changes nothing. Addresses only, never a key.\n\nExample:\n  $ tor-reconcile status examples/specs/quickstart.yaml --json\n')
      .action(async (specs: string[], flags: { control?: string; json?: boolean; timeout: string; watch?: string; allowPath: string[]; target: string[] }) => {
        const timeout = parseDuration(flags.timeout, '--timeout');
        const confine = confineFlag(flags.allowPath);
        const loaded = await loadForCommand(specs, io, flags.target, confine);
        if (loaded.state.targets) return setExitCode(await (await import('./fleet.js')).fleetStatusCommand(loaded, io, { ...flags, timeout }));
        const report = await serviceStatus(specs, { loaded, env: io.env, confine, ...(flags.control ? { control: flags.control } : {}), ...(flags.watch ? { watch: flags.watch } : {}), timeout });
        io.stdout(flags.json ? JSON.stringify({ format_version: 1, ...report }, null, 2) + '\n' : renderStatus(report));
      });
  },
};
