/**
 * Options tor refuses to change while it runs: SETCONF/RESETCONF of any of them to a different value
 * fails with `553 Transition not allowed: While Tor is running, changing <X> is not allowed`, and
 * (SETCONF being all-or-nothing) so does every other key in the same command. Changing them needs a
 * restart of tor.
 *
 * Source: options declared with CFLG_IMMUTABLE (V_IMMUTABLE, VAR_IMMUTABLE, VAR_NODUMP_IMMUTABLE) in
 * tor's src/app/config/config.c, checked by config_check_immutable_flags() in
 * src/lib/confmgt/confmgt.c after the values were validated. The stored tor source read was 0.4.8-era;
 * FamilyKeyDirectory, HardwareAccel, AccelName and AccelDir are immutable on 0.4.9 too, which that
 * source did not show (crypto_options.inc had no flag then), so the list below is what 0.4.9.11 does.
 *
 * Every entry was verified on tor 0.4.9.11 (SETCONF of a valid new value → 553): most directly;
 * HiddenServiceSingleHopMode together with HiddenServiceNonAnonymousMode (each alone fails validation
 * first), TestingTorNetwork together with a custom DirAuthority (same reason), and AccelDir on a tor
 * started with AccelName set (AccelDir without AccelName fails validation).
 */
export const IMMUTABLE_OPTIONS: ReadonlySet<string> = new Set([
  'AccelDir',
  'AccelName',
  'CacheDirectory',
  'DataDirectory',
  'DisableAllSwap',
  'DisableDebuggerAttachment',
  'FamilyKeyDirectory',
  'HardwareAccel',
  'HiddenServiceNonAnonymousMode',
  'HiddenServiceSingleHopMode',
  'KeepBindCapabilities',
  'KeyDirectory',
  'NoExec',
  'PidFile',
  'RunAsDaemon',
  'Sandbox',
  'SyslogIdentityTag',
  'TestingTorNetwork',
  'TokenBucketRefillInterval',
  'User',
  '__DisableSignalHandlers',
  '__OwningControllerFD',
]);

/**
 * Further options frozen only while `Sandbox 1` is in effect (options_check_transition_cb() in
 * config.c), with the message `While Tor is running with Sandbox active, changing <X> is not allowed`.
 * Under the sandbox tor also refuses to start or stop being a relay (`Can't start/stop being a server
 * while Sandbox is active`), which no single option name captures. All verified on 0.4.9.11 with
 * `--Sandbox 1`.
 */
export const SANDBOX_IMMUTABLE_OPTIONS: ReadonlySet<string> = new Set([
  'Address',
  'ConnLimit',
  'CookieAuthFile',
  'DirPortFrontPage',
  'ExtORPortCookieAuthFile',
  'Log',
  'ServerDNSResolvConfFile',
]);
