/** Logs on a tor that hosts onion services: what they may reveal if the host or its backups are seized. */
import { lineHit } from '../config.js';
import type { Rule } from '../types.js';

const MANUAL = "tor's manual (tor(1))";

export const safeLoggingOff: Rule = {
  id: 'TR030',
  name: 'safe-logging-off',
  severity: 'warning',
  summary: 'SafeLogging 0 (or relay) on a tor that hosts onion services',
  rationale:
    'SafeLogging replaces "potentially sensitive strings" such as addresses with [scrubbed]. With 0 (or `relay`, which scrubs only relay messages), the logs of an onion service host keep addresses and onion addresses the service talked to; a seized disk or a leaked log then ties the service to activity it should not be tied to.',
  sources: [`${MANUAL}: SafeLogging`],
  fix: 'Remove SafeLogging (its default is 1) or set `SafeLogging: 1`.',
  *check(config) {
    if (!config.hostsOnionServices) return;
    for (const line of config.lines('SafeLogging')) {
      if (line.value !== '1') yield lineHit(line, `SafeLogging ${line.value} on an onion service host: sensitive strings are logged unscrubbed`);
    }
  },
};

const VERBOSE = new Set(['debug', 'info']);

/** The destinations of a `Log` line that keep what they are given: a file or syslog. */
function persistentVerbose(value: string): boolean {
  const words = value.trim().split(/\s+/);
  const dest = words.findIndex((w) => ['file', 'syslog', 'stdout', 'stderr'].includes(w.toLowerCase()));
  if (dest < 0 || !['file', 'syslog'].includes(words[dest]!.toLowerCase())) return false;
  // Severity ranges come before the destination, each optionally prefixed by `[domains]`.
  return words.slice(0, dest).some((w) => VERBOSE.has(w.replace(/^\[[^\]]*\]/, '').split('-')[0]!.toLowerCase()));
}

export const verboseLogFile: Rule = {
  id: 'TR031',
  name: 'verbose-log-persisted',
  severity: 'warning',
  summary: 'A log at info or debug written to a file or syslog on a tor that hosts onion services',
  rationale:
    'tor\'s manual advises "using notice in most cases, since anything more verbose may provide sensitive information to an attacker who obtains the logs", and warns that tor "may not heed [SafeLogging] when logging at log levels more verbose than Notice". A file or syslog keeps these messages, about circuits, introduction points and clients, long after the debugging session that needed them.',
  sources: [`${MANUAL}: Log, SafeLogging`],
  fix: 'Log at notice (`Log: notice file /var/log/tor/notices.log`); for debugging, log at info to stderr or read events over the control port for a short time.',
  *check(config) {
    if (!config.hostsOnionServices) return;
    for (const line of config.lines('Log')) {
      if (persistentVerbose(line.value)) yield lineHit(line, `Log ${line.value}: info/debug messages kept on an onion service host`);
    }
  },
};

export const loggingRules: Rule[] = [safeLoggingOff, verboseLogFile];
