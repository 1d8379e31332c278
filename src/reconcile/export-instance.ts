/**
 * Which tor options describe one tor *process* rather than the configuration a spec declares. An export
 * leaves them out of `options:` (they go to a commented block, or with `--include-instance` into
 * `options:`): applied to a second tor they would make it fight the first for its control port, pid file
 * and data directory, and most cannot change while tor runs, so a spec holding them plans a restart
 * forever on any other tor. docs/export.md lists them with the same reasons.
 *
 * Chosen from tor's option semantics (tor(1), 0.4.9): an option is instance state when its value names a
 * resource of this process on this host (a listener for controllers, a file, a directory, a user), or
 * only changes how the process runs, logs or is controlled, never what it does on the Tor network.
 * Listeners for clients and relays (SocksPort, ORPort …) stay declared: they are the service tor offers.
 */

const GROUPS: ReadonlyArray<{ why: string; names: readonly string[] }> = [
  {
    why: 'controller access to this tor: the exported spec reaches it through tor.control',
    names: [
      'ControlPort',
      'ControlSocket',
      'ControlSocketsGroupWritable',
      'ControlPortWriteToFile',
      'ControlPortFileGroupReadable',
      'CookieAuthentication',
      'CookieAuthFile',
      'CookieAuthFileGroupReadable',
      'HashedControlPassword',
      'DisableNetwork',
    ],
  },
  {
    why: "this process's directories and files on this host",
    names: [
      'DataDirectory',
      'DataDirectoryGroupReadable',
      'CacheDirectory',
      'CacheDirectoryGroupReadable',
      'KeyDirectory',
      'KeyDirectoryGroupReadable',
      'PidFile',
    ],
  },
  {
    why: 'how this process runs: user, daemonizing, sandbox and hardening (most need a restart to change)',
    names: ['User', 'RunAsDaemon', 'Sandbox', 'NoExec', 'DisableAllSwap', 'DisableDebuggerAttachment', 'KeepBindCapabilities', 'HardwareAccel', 'AccelName', 'AccelDir'],
  },
  {
    why: "where this process logs and how; the host's logging, not tor's behaviour",
    names: ['Log', 'LogMessageDomains', 'LogTimeGranularity', 'TruncateLogFile', 'SyslogIdentityTag', 'SafeLogging'],
  },
];

const REASONS: ReadonlyMap<string, string> = new Map(GROUPS.flatMap((g) => g.names.map((n) => [n, g.why])));

/** Why `option` (canonical name) is instance state, or undefined when it belongs to the declared configuration. */
export function instanceReason(option: string): string | undefined {
  return REASONS.get(option);
}

/** Every instance option with its reason, in the order docs/export.md lists them. */
export function instanceOptions(): ReadonlyArray<{ why: string; names: readonly string[] }> {
  return GROUPS;
}
