import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { chmod, mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ControlAddress } from './address.js';
import { connect, TorClient, type ConnectOptions } from './client.js';
import { ConnectionError, LaunchError } from './errors.js';
import { DATA_DIRECTORY_FILES, OWNED_OPTIONS, type LaunchSetup } from './launch-layout.js';
import { fields, quoteString } from './protocol/quoting.js';

export interface BootstrapStatus {
  progress: number;
  tag: string;
  summary: string;
}

export interface LaunchOptions extends Omit<ConnectOptions, 'control' | 'password' | 'passwordEnv' | 'passwordFile' | 'method'> {
  /** The tor binary (default `tor` on PATH). */
  binary?: string;
  /** Created (mode 0700) if missing. The torrc, log, pid file, cookie and control socket live here. */
  dataDirectory: string;
  /** `socket` (default): a ControlSocket in the data directory; `port`: `ControlPort auto` on 127.0.0.1. */
  control?: 'socket' | 'port';
  /** More torrc options; a list gives repeated lines. Written into the generated torrc. */
  options?: Record<string, string | number | boolean | Array<string | number>>;
  /**
   * Options for tor's defaults file (`--defaults-torrc`): an option the torrc, or a file it `%include`s, also
   * sets replaces them as a whole rather than adding lines to them (tor's rule for the two files).
   */
  defaults?: Record<string, string | number | boolean | Array<string | number>>;
  /** Keep tor running after this process exits (the embedded daemon the CLI reuses between runs). */
  detached?: boolean;
  /** TAKEOWNERSHIP: tor exits when this client's connection closes. */
  takeOwnership?: boolean;
  /** Called with each bootstrap step (STATUS_CLIENT BOOTSTRAP events and the initial phase). */
  onBootstrap?: (status: BootstrapStatus) => void;
  /** Resolve only once tor reports 100% (give a number for a timeout in ms, default 120 s). */
  waitForBootstrap?: boolean | number;
  /** How long tor may take to open its control listener, in ms (default 30 s). */
  startTimeout?: number;
}

/** A tor started by `launch`: its client, and how to stop it. */
export class LaunchedTor {
  constructor(
    readonly client: TorClient,
    readonly pid: number,
    readonly dataDirectory: string,
    readonly controlAddress: ControlAddress,
    readonly torrcPath: string,
    readonly child: ChildProcess | undefined,
  ) {}

  /** Log file tor writes notices to. */
  get logPath(): string {
    return path.join(this.dataDirectory, DATA_DIRECTORY_FILES.log);
  }

  /** Ask tor to exit at once (SIGNAL HALT), wait for it, and SIGKILL it if it lingers. */
  async stop(timeout = 10_000): Promise<void> {
    await stopTor(this.pid, this.client, this.child, timeout);
  }
}

export { DATA_DIRECTORY_FILES, LAUNCH_OPTIONS } from './launch-layout.js';

const SOCKET_PATH_MAX = 100; // sun_path is 108 bytes on Linux; keep a margin.


/**
 * Start a tor with its own data directory and a generated torrc, connect to it with cookie authentication,
 * and report bootstrap progress. Without `detached`, tor is told (`__OwningControllerProcess`) to exit if
 * this process dies, so a crashed test run leaves no tor behind.
 */
export async function launch(options: LaunchOptions): Promise<LaunchedTor> {
  const dataDir = path.resolve(options.dataDirectory);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chmod(dataDir, 0o700);
  const socketPath = path.join(dataDir, DATA_DIRECTORY_FILES.controlSocket);
  const useSocket = (options.control ?? 'socket') === 'socket' && Buffer.byteLength(socketPath) <= SOCKET_PATH_MAX;
  const portFile = path.join(dataDir, DATA_DIRECTORY_FILES.controlPortFile);
  const logFile = path.join(dataDir, DATA_DIRECTORY_FILES.log);
  const startupLog = path.join(dataDir, DATA_DIRECTORY_FILES.startupLog);
  await rm(portFile, { force: true });
  await rm(socketPath, { force: true });
  // Tor appends to its log: a failure is explained by what this run wrote, never by an earlier run's lines.
  const logStart = await stat(logFile).then((s) => s.size, () => 0);

  const setup: LaunchSetup = { dataDir, portFile, detached: options.detached ?? false, ...(useSocket ? { socketPath } : {}) };
  const lines: Array<[string, string]> = OWNED_OPTIONS.flatMap((o) => o.values(setup).map((v): [string, string] => [o.name, v]));
  // Not owned: Log lines add up, so a spec's own Log lines go to their own places as well.
  lines.push(['Log', `notice file ${logFile}`]);
  lines.push(...torrcLines(options.options));
  const torrc = path.join(dataDir, DATA_DIRECTORY_FILES.torrc);
  // Last, so that what apply persisted wins over the spec's launch options of an earlier start; created empty
  // the first time, as tor refuses to start with an %include of a missing file.
  const persisted = path.join(dataDir, DATA_DIRECTORY_FILES.persisted);
  await writeFile(persisted, '', { mode: 0o600, flag: 'a' });
  const include = `%include ${persisted}\n`;
  await writeFile(torrc, lines.map(([k, v]) => `${k} ${torrcValue(k, v)}`).join('\n') + '\n' + include, { mode: 0o600 });
  const defaults = path.join(dataDir, DATA_DIRECTORY_FILES.torrcDefaults);
  await writeFile(defaults, torrcLines(options.defaults).map(([k, v]) => `${k} ${torrcValue(k, v)}\n`).join(''), { mode: 0o600 });

  const binary = options.binary ?? 'tor';
  // Tor reports a failure that comes before its log file is open (a port already in use, a bad torrc) only on
  // stdout. A detached tor must not hold a pipe to this process, so its output goes to a file instead.
  const startupFd = options.detached ? openSync(startupLog, 'w', 0o600) : undefined;
  let child: ChildProcess;
  try {
    child = spawn(binary, ['-f', torrc, '--defaults-torrc', defaults], {
      stdio: ['ignore', startupFd ?? 'pipe', startupFd ?? 'pipe'],
      detached: options.detached ?? false,
    });
  } finally {
    if (startupFd !== undefined) closeSync(startupFd);
  }
  const output: string[] = [];
  const collect = (b: Buffer) => {
    for (const l of b.toString('utf8').split('\n')) if (l.trim()) output.push(l);
    if (output.length > 200) output.splice(0, output.length - 200);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let exited: { code: number | null; signal: string | null } | null = null;
  let spawnError: Error | null = null;
  // 'close', not 'exit': by then everything tor printed has been collected.
  child.on('close', (code, signal) => (exited = { code, signal }));
  child.on('error', (err) => (spawnError = err));
  if (options.detached) child.unref();

  const deadline = Date.now() + (options.startTimeout ?? 30_000);
  const logTail = async () => problems([...output, ...(await readText(startupLog, 0)).split('\n'), ...(await readText(logFile, logStart)).split('\n')]);
  let address: ControlAddress | undefined;
  let client: TorClient | undefined;
  try {
    for (;;) {
      if (spawnError) {
        const e = spawnError as NodeJS.ErrnoException;
        throw new LaunchError(e.code === 'ENOENT' ? `tor binary "${binary}" not found: install tor (Debian: apt-get install tor) or pass binary` : `cannot start ${binary}: ${e.message}`);
      }
      if (exited) {
        const ex = exited as { code: number | null; signal: string | null };
        throw new LaunchError(`tor exited during startup (${ex.signal ?? `code ${ex.code}`})`, await logTail());
      }
      if (Date.now() > deadline) throw new LaunchError('tor did not open its control listener in time', await logTail());
      address = useSocket ? (existsSync(socketPath) ? { type: 'unix', path: socketPath } : undefined) : await readControlPortFile(portFile);
      if (address) {
        try {
          client = await connect({ ...options, control: address, cookieFile: options.cookieFile ?? path.join(dataDir, DATA_DIRECTORY_FILES.cookie) });
          break;
        } catch (err) {
          if (!(err instanceof ConnectionError)) throw err;
        }
      }
      await sleep(20);
    }
    if (options.takeOwnership) await client.takeOwnership();
    await followBootstrap(client, child, options, logTail);
  } catch (err) {
    child.kill('SIGKILL');
    await client?.close().catch(() => {});
    throw err;
  }
  return new LaunchedTor(client, child.pid!, dataDir, address!, torrc, options.detached ? undefined : child);
}

/**
 * This launch's warnings, errors and untagged output (a shell's or the loader's message about the binary),
 * once each (tor prints them to stdout and its log), without timestamps; tor's notices tell nothing here.
 */
function problems(lines: string[]): string[] {
  const out = lines.filter((l) => l.trim() && !/\[(notice|info|debug)\]/.test(l)).map((l) => l.replace(/^.*?\[(warn|err)\] /, '[$1] '));
  return [...new Set(out)];
}

/** A file's text from byte `from` on; empty when it does not exist. */
async function readText(file: string, from: number): Promise<string> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return '';
  try {
    const { size } = await handle.stat();
    const buf = Buffer.alloc(Math.max(0, size - from));
    await handle.read(buf, 0, buf.length, from);
    return buf.toString('utf8');
  } finally {
    await handle.close();
  }
}

/** torrc values are raw to end of line; quote only what needs it (tor parses quoted values as C strings). */
export function torrcValue(key: string, v: string): string {
  if (/[\r\n\0]/.test(v)) throw new LaunchError(`option ${key}: value contains CR, LF or NUL`);
  return /["#\\]|^\s|\s$/.test(v) ? quoteString(v, key) : v;
}

/** The address tor wrote to its ControlPortWriteToFile file; undefined until it has. */
export async function readControlPortFile(file: string): Promise<ControlAddress | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const m = /PORT=([\d.]+):(\d+)/.exec(text);
  return m ? { type: 'tcp', host: m[1]!, port: Number(m[2]) } : undefined;
}

/** `NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"` → status; undefined for other actions. */
export function parseBootstrapPhase(text: string): BootstrapStatus | undefined {
  const { positional, kv } = fields(text);
  if (!positional.includes('BOOTSTRAP') || !kv.has('PROGRESS')) return undefined;
  return { progress: Number(kv.get('PROGRESS')), tag: kv.get('TAG') ?? '', summary: kv.get('SUMMARY') ?? '' };
}

/** Report bootstrap progress and, if asked, wait for 100%; a tor that dies meanwhile fails it at once. */
async function followBootstrap(client: TorClient, child: ChildProcess, options: LaunchOptions, logTail: () => Promise<string[]>): Promise<void> {
  if (!options.onBootstrap && !options.waitForBootstrap) return;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const report = (s: BootstrapStatus | undefined) => {
    if (!s) return;
    options.onBootstrap?.(s);
    if (s.progress >= 100) done();
  };
  const cleanups: Array<() => void> = [];
  const failed = new Promise<never>((_, reject) => {
    const fail = (why: string) => void logTail().then((log) => reject(new LaunchError(`tor ${why} before bootstrapping finished`, log)));
    cleanups.push(client.connection.onClose((err) => fail(`closed the control connection (${err.message})`)));
    const onExit = (code: number | null, signal: string | null) => fail(`exited (${signal ?? `code ${code}`})`);
    child.once('exit', onExit);
    cleanups.push(() => child.off('exit', onExit));
    if (options.waitForBootstrap) {
      const limit = typeof options.waitForBootstrap === 'number' ? options.waitForBootstrap : 120_000;
      const timer = setTimeout(() => reject(new LaunchError(`tor did not finish bootstrapping within ${limit} ms`)), limit);
      cleanups.push(() => clearTimeout(timer));
    }
  });
  failed.catch(() => {});
  let off: (() => Promise<void>) | undefined;
  try {
    off = await Promise.race([
      failed,
      client.on('STATUS_CLIENT', (e) => {
        if (e.action === 'BOOTSTRAP') report({ progress: Number(e.args.PROGRESS ?? 0), tag: e.args.TAG ?? '', summary: e.args.SUMMARY ?? '' });
      }),
    ]);
    report(parseBootstrapPhase(await Promise.race([failed, client.getInfo('status/bootstrap-phase')])));
    if (options.waitForBootstrap) await Promise.race([failed, finished]);
  } catch (err) {
    // A command can fail on the closing connection before the close is reported: report the death instead.
    if (client.connection.isClosed && !(err instanceof LaunchError)) await failed;
    throw err;
  } finally {
    for (const c of cleanups) c();
    // With onBootstrap the caller keeps hearing about progress after launch resolves.
    if (!options.onBootstrap && !client.connection.isClosed) await off?.().catch(() => {});
  }
}

function torrcLines(options: LaunchOptions['options']): Array<[string, string]> {
  return Object.entries(options ?? {}).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((item): [string, string] => [k, typeof item === 'boolean' ? (item ? '1' : '0') : String(item)]));
}

/** Whether a process with this pid exists (EPERM: it does, as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * HALT rather than SHUTDOWN: a relay would otherwise wait ShutdownWaitLength (30 s by default). Tor may exit
 * before answering, so a closed connection is success here.
 */
export async function stopTor(pid: number, client: TorClient | undefined, child: ChildProcess | undefined, timeout = 10_000): Promise<void> {
  const gone = child ? new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r()))) : undefined;
  if (client && !client.connection.isClosed) {
    await client.signal('HALT').catch(() => {});
    await client.close().catch(() => {});
  } else if (processAlive(pid)) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeout;
  while (gone ? !(child!.exitCode !== null || child!.signalCode !== null) : processAlive(pid)) {
    if (Date.now() > deadline) {
      if (processAlive(pid)) process.kill(pid, 'SIGKILL');
      break;
    }
    await sleep(20);
  }
  await gone;
}
