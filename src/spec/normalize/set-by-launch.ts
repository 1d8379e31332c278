/**
 * Options a launched tor gets from tor-reconcile itself (src/tor/launch.ts), with why a spec must not fight
 * over each: the one list of them in the spec language.
 */
export const SET_BY_LAUNCH: ReadonlyMap<string, string> = new Map([
  ['DataDirectory', 'give tor.launch.dataDirectory instead'],
  ['ControlPort', 'tor-reconcile opens the control port of a tor it launches'],
  ['ControlSocket', 'tor-reconcile opens the control port of a tor it launches'],
  ['ControlPortWriteToFile', 'tor-reconcile opens the control port of a tor it launches'],
  ['CookieAuthentication', 'tor-reconcile authenticates to a tor it launches with its cookie'],
  ['PidFile', 'tor-reconcile keeps the pid file of a tor it launches'],
  ['RunAsDaemon', 'a launched tor must stay attached to tor-reconcile'],
  ['__OwningControllerProcess', 'tor-reconcile sets it so that a launched tor exits with it'],
]);
