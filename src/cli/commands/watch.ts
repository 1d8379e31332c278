import http from 'node:http';
import { Watcher, type WatchLogEntry } from '../../reconcile/watch.js';
import { loadSpec, SpecErrors } from '../../spec/index.js';
import { CliUsageError } from '../report.js';
import { formatReport, type CliCommand, type CliIo } from '../program.js';
import { renderMetrics } from '../views/metrics.js';
import { parseDuration, TIMEOUT_OPTION } from '../duration.js';
import { ALLOW_PATH_OPTION, confineFlag } from '../allow-path.js';
import { tableFor } from '../../reconcile/reconcile.js';
import { loadForCommand, TARGET_OPTION } from './fleet-load.js';
import { json, listenHttp, runUntilSignal } from './watch-runtime.js';

interface WatchFlags {
  control?: string;
  mode: string;
  debounce: string;
  resync: string;
  pollOnions: string;
  logFormat: string;
  listen?: string;
  timeout: string;
  checkInterval?: string;
  checkSocks?: string;
  checkTimeout?: string;
  allowPath: string[];
  target: string[];
}

export function logger(io: CliIo, format: string): (e: WatchLogEntry) => void {
  return (e) => {
    if (format === 'json') io.stderr(`${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`);
    else io.stderr(`${new Date().toISOString()} ${e.level.toUpperCase().padEnd(5)} ${e.event}: ${e.message}\n`);
  };
}

/**
 * `/healthz` (200 when connected and the last reconcile succeeded, else 503; `specValid: false` and the first
 * error while the spec on disk does not load), `/metrics`, and `/onions` (the onion services' health as JSON,
 * what `status --watch` shows).
 */
function serve(watcher: Watcher, listen: string): Promise<http.Server> {
  return listenHttp(listen, (url) => {
    if (url === '/healthz') {
      const h = watcher.health();
      return json(h.ok ? 200 : 503, h);
    }
    if (url === '/metrics') return { status: 200, type: 'text/plain; version=0.0.4', body: renderMetrics(watcher.metrics, watcher.onionHealth()) };
    if (url === '/onions') return json(200, { format_version: 1, ...watcher.onionHealth() });
    return undefined;
  });
}

export const watchCommand: CliCommand = {
  register(program, { io }) {
    program
      .command('watch')
      .description('keep tor equal to the spec: on spec edits, on drift (CONF_CHANGED), after tor restarts, and periodically')
      .argument('<spec...>', 'spec files, merged in order; their directories are watched')
      .option('--control <address>', 'tor control address (unix:PATH or tcp:HOST:PORT); overrides tor.control')
      .option('--mode <mode>', 'enforce (revert drift) or warn (report only, never write)', 'enforce')
      .option('--debounce <duration>', 'quiet period before acting on a burst of events', '100ms')
      .option('--resync <duration>', 'full reconcile even without events', '5m')
      .option('--poll-onions <duration>', 'check this often that tor still runs the ephemeral services and holds the non-permanent client credentials (tor sends no event when another controller deletes one, or a SETCONF drops them); 0 never', '2s')
      .option('--log-format <format>', 'text or json (one object per line, on stderr)', 'text')
      .option('--listen <host:port>', 'serve /healthz, /metrics (Prometheus) and /onions here')
      .option('--check-interval <duration>', "self-check every declared onion service through a SOCKS port this often, ±20 % (docs/health.md); 0 never. Default: the spec's health.check, else 5m with a SOCKS port named, else never")
      .option('--check-socks <host:port>', "the SOCKS port of a separate client tor to self-check through (required on the public network; default: the spec's health.check.socks, else the spec's tor on a test network only)")
      .option('--check-timeout <duration>', "per service and self-check (default: the spec's health.check, else 60s)")
      .option(...TIMEOUT_OPTION)
      .option(...ALLOW_PATH_OPTION)
      .option(...TARGET_OPTION)
      .addHelpText(
        'after',
        "\nWith tor.launch (and no --control), watch runs the embedded tor as its child, restarts it if it dies, and\nstops it on exit. SIGTERM/SIGINT finish the step in flight and exit 0, leaving everything applied in place.\n\nExample:\n  $ tor-reconcile watch /etc/tor-reconcile/spec.yaml --listen 127.0.0.1:9099 --log-format json\n",
      )
      .action(async (specs: string[], flags: WatchFlags) => {
        if (flags.mode !== 'enforce' && flags.mode !== 'warn') throw new CliUsageError(`--mode ${flags.mode}: use enforce or warn`);
        if (flags.logFormat !== 'text' && flags.logFormat !== 'json') throw new CliUsageError(`--log-format ${flags.logFormat}: use text or json`);
        const log = logger(io, flags.logFormat);
        // Before the spec is read: a bad flag is a usage error whatever the spec holds.
        const timing = {
          debounceMs: parseDuration(flags.debounce, '--debounce'),
          resyncMs: parseDuration(flags.resync, '--resync'),
          onionPollMs: parseDuration(flags.pollOnions, '--poll-onions'),
          timeoutMs: parseDuration(flags.timeout, '--timeout'),
          health: {
            ...(flags.checkInterval !== undefined ? { checkIntervalMs: parseDuration(flags.checkInterval, '--check-interval') } : {}),
            ...(flags.checkTimeout !== undefined ? { checkTimeoutMs: parseDuration(flags.checkTimeout, '--check-timeout') } : {}),
            ...(flags.checkSocks ? { checkSocks: flags.checkSocks } : {}),
          },
        };
        // Loaded once here to tell a fleet spec from one tor's; the watcher's first load takes this one.
        let first: Awaited<ReturnType<typeof loadForCommand>> | undefined = await loadForCommand(specs, io, flags.target, confineFlag(flags.allowPath));
        if (first.state.targets) return (await import('./fleet.js')).fleetWatch(first, io, specs, { ...flags, ...timing }, (name, e) => log({ ...e, message: `[${name}] ${e.message}`, target: name }));
        const watcher = new Watcher({
          specFiles: specs,
          ...(flags.control ? { control: flags.control } : {}),
          mode: flags.mode,
          ...timing,
          table: tableFor,
          log,
          load: async (table) => {
            const loaded = first;
            first = undefined;
            if (loaded && !table) {
              if (loaded.warnings.length) io.stderr(formatReport(loaded.warnings));
              return loaded.state;
            }
            try {
              const { state, warnings } = await loadSpec(specs, { env: io.env, confine: confineFlag(flags.allowPath), ...(table ? { table } : {}) });
              if (warnings.length) io.stderr(formatReport(warnings));
              return state;
            } catch (err) {
              // The cause gives /healthz the first error itself.
              if (err instanceof SpecErrors) throw new Error(formatReport(err.errors.concat(err.warnings)).trimEnd(), { cause: err });
              throw err;
            }
          },
        });
        const server = flags.listen ? await serve(watcher, flags.listen) : undefined;
        await runUntilSignal(watcher, server, (sig) => log({ level: 'info', event: 'shutdown', message: `${sig}: finishing the step in flight and leaving everything in place` }));
      });
  },
};
