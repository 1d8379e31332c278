/**
 * What a launched tor's data directory holds and which options launch sets itself (launch.ts): plain data,
 * apart from launch, so that the spec's checks (a spec may not set these options) load no process or
 * control-port code.
 */
import path from 'node:path';

/**
 * The files a launched tor's data directory holds besides tor's own state: what launch writes and what tor
 * writes for it. Whoever looks for a launched tor (src/reconcile/target.ts) finds it by these names.
 */
export const DATA_DIRECTORY_FILES = Object.freeze({
  torrc: 'torrc',
  torrcDefaults: 'torrc-defaults',
  /** ControlSocket, when its path fits in sun_path. */
  controlSocket: 'control.sock',
  /** ControlPortWriteToFile, when the socket path is too long or `control: 'port'`. */
  controlPortFile: 'control-port',
  /** Tor's name for it, under CookieAuthentication 1 and no CookieAuthFile. */
  cookie: 'control_auth_cookie',
  pid: 'tor.pid',
  /** What apply persists (the spec's options and HiddenService block): the torrc `%include`s it, last. */
  persisted: 'tor-reconcile.torrc',
  log: 'notice.log',
  /** What a detached tor prints before its log file is open (a failed bind, a bad torrc), rewritten each launch. */
  startupLog: 'startup.log',
});

/** What the options launch sets depend on. */
export interface LaunchSetup {
  dataDir: string;
  socketPath?: string;
  portFile: string;
  detached: boolean;
}

/**
 * The torrc options launch sets itself, each with why tor-reconcile owns it, and its values for one launch
 * (none: not set for this one). launch writes its torrc from this table and LAUNCH_OPTIONS is made from it, so
 * what a spec is refused is exactly what launch writes.
 */
export const OWNED_OPTIONS: ReadonlyArray<{ name: string; why: string; values: (s: LaunchSetup) => string[] }> = [
  { name: 'DataDirectory', why: 'give tor.launch.dataDirectory instead', values: (s) => [s.dataDir] },
  { name: 'PidFile', why: 'tor-reconcile keeps the pid file of a tor it launches', values: (s) => [path.join(s.dataDir, DATA_DIRECTORY_FILES.pid)] },
  { name: 'CookieAuthentication', why: 'tor-reconcile authenticates to a tor it launches with its cookie', values: () => ['1'] },
  { name: 'RunAsDaemon', why: 'a launched tor must stay attached to tor-reconcile', values: () => ['0'] },
  { name: 'ControlSocket', why: 'tor-reconcile opens the control port of a tor it launches', values: (s) => (s.socketPath ? [s.socketPath] : []) },
  { name: 'ControlPort', why: 'tor-reconcile opens the control port of a tor it launches', values: (s) => (s.socketPath ? [] : ['auto']) },
  { name: 'ControlPortWriteToFile', why: 'tor-reconcile opens the control port of a tor it launches', values: (s) => (s.socketPath ? [] : [s.portFile]) },
  { name: '__OwningControllerProcess', why: 'tor-reconcile sets it so that a launched tor exits with it', values: (s) => (s.detached ? [] : [String(process.pid)]) },
];

/** Options a launched tor gets from tor-reconcile itself, each with why: a spec must not set them. */
export const LAUNCH_OPTIONS: ReadonlyMap<string, string> = new Map(OWNED_OPTIONS.map((o) => [o.name, o.why]));
