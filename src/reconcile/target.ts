/**
 * Which tor a spec talks to: `--control` or `tor.control`, else the embedded tor of `tor.launch` — started
 * on first use, detached so that it outlives the CLI, and reused by later runs through its control socket.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { DesiredState, LaunchSpec } from '../spec/model.js';
import { formatControlAddress, parseControlAddress, type ControlAddress } from '../tor/address.js';
import { connect, type TorClient } from '../tor/client.js';
import { ConnectionError, LaunchError, UsageError } from '../tor/errors.js';
import { DATA_DIRECTORY_FILES, launch, readControlPortFile, stopTor, torrcValue, type LaunchedTor } from '../tor/launch.js';
import { startupOptions } from './startup.js';

export interface Target {
  client: TorClient;
  /** Printable address. */
  address: string;
  /** Set when tor-reconcile started this tor just now. */
  launched?: LaunchedTor;
  /** The spec's embedded tor (tor.launch), which apply may restart (restartEmbedded). */
  embedded?: boolean;
}

export interface TargetOptions {
  control?: string;
  /** Start the embedded tor when it is not running (apply, watch); plan/diff also do, saying so. */
  start?: boolean;
  log?: (message: string) => void;
  timeout?: number;
  /**
   * Run a newly started embedded tor as a child that exits with this process (watch supervises it), rather
   * than detached for later runs to reuse (apply, the default).
   */
  child?: boolean;
}

export async function openTarget(desired: DesiredState, options: TargetOptions = {}): Promise<Target> {
  // The fleet layer (src/fleet) gives each target a state of its own; the spec itself names no one tor.
  if (desired.targets) throw new UsageError('this spec has targets: (several tors); plan, diff, apply and status work across them, this command works on one tor');
  const control = options.control ?? desired.tor.control;
  const auth = {
    ...(desired.tor.password ? { password: desired.tor.password } : {}),
    ...(desired.tor.cookieFile ? { cookieFile: desired.tor.cookieFile } : {}),
    ...(options.timeout ? { timeout: options.timeout } : {}),
  };
  if (control) {
    const address = parseControlAddress(control);
    return { client: await connect({ control: address, ...auth }), address: formatControlAddress(address) };
  }
  const spec = desired.tor.launch;
  if (!spec) throw new UsageError('no tor to talk to: set tor.control or tor.launch in the spec, or pass --control');
  const running = await embeddedAddress(spec.dataDirectory);
  if (running) {
    try {
      const client = await connect({ control: running, cookieFile: path.join(spec.dataDirectory, DATA_DIRECTORY_FILES.cookie), ...auth });
      return { client, address: formatControlAddress(running), embedded: true };
    } catch (err) {
      // A stale socket or port file from a tor that is gone: start a new one below.
      if (!(err instanceof ConnectionError)) throw err;
    }
  }
  if (options.start === false) throw new UsageError(`the embedded tor (${spec.dataDirectory}) is not running`);
  options.log?.(`starting the embedded tor (${spec.binary}, data directory ${spec.dataDirectory})`);
  const tor = await launchEmbedded(spec, startupOptions(desired), options);
  return { client: tor.client, address: formatControlAddress(tor.controlAddress), launched: tor, embedded: true };
}

/** The first start and every restart go through here, with the torrc options of startup.ts. */
function launchEmbedded(spec: LaunchSpec, torrc: Record<string, string[]>, options: TargetOptions): Promise<LaunchedTor> {
  // In tor's defaults file: once apply has persisted the spec (the drop-in the torrc %includes), its lines
  // replace these instead of adding to them (a SocksPort listed twice would differ from the spec).
  return launch({ binary: spec.binary, dataDirectory: spec.dataDirectory, detached: !options.child, defaults: torrc, ...(options.timeout ? { timeout: options.timeout } : {}) });
}

/**
 * Stop the embedded tor `target` reaches and start it again with `torrc` (a `restart-tor` step's options);
 * `target` then reaches the new tor. Ephemeral services end with the old tor: their keys stay in their files,
 * and the apply that follows adds them again.
 */
export async function restartEmbedded(target: Target, desired: DesiredState, torrc: Record<string, string[]>, options: TargetOptions = {}): Promise<TorClient> {
  const spec = desired.tor.launch;
  if (!target.embedded || !spec) throw new UsageError('only the embedded tor of tor.launch can be restarted by tor-reconcile');
  await verifyTorrc(spec, torrc);
  const pid = Number(await target.client.getInfo('process/pid'));
  await stopTor(pid, target.client, target.launched?.child);
  options.log?.(`restarting the embedded tor (${spec.binary}, data directory ${spec.dataDirectory})`);
  const tor = await launchEmbedded(spec, torrc, options);
  target.client = tor.client;
  target.address = formatControlAddress(tor.controlAddress);
  target.launched = tor;
  return tor.client;
}

async function embeddedAddress(dataDirectory: string): Promise<ControlAddress | undefined> {
  const socket = path.join(dataDirectory, DATA_DIRECTORY_FILES.controlSocket);
  if (existsSync(socket)) return { type: 'unix', path: socket };
  return readControlPortFile(path.join(dataDirectory, DATA_DIRECTORY_FILES.controlPortFile));
}

/** Stop the embedded tor of a spec; false when it was not running. */
export async function stopEmbedded(desired: DesiredState): Promise<boolean> {
  const spec = desired.tor.launch;
  if (!spec) throw new UsageError('this spec has no tor.launch: tor-reconcile did not start its tor and will not stop it');
  let target: Target;
  try {
    target = await openTarget(desired, { start: false });
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConnectionError) return false;
    throw err;
  }
  const pid = Number(await target.client.getInfo('process/pid'));
  await stopTor(pid, target.client, undefined);
  return true;
}

/**
 * Tor's own check (`tor --verify-config`) of the new start-up options, before the running tor is stopped for
 * them: a value tor accepts in a spec but refuses at start-up must not leave the spec without a tor.
 */
async function verifyTorrc(spec: LaunchSpec, torrc: Record<string, string[]>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tr-verify-'));
  try {
    const lines = [['DataDirectory', spec.dataDirectory], ...Object.entries(torrc).flatMap(([k, values]) => values.map((v) => [k, v]))];
    const file = path.join(dir, 'torrc');
    const defaults = path.join(dir, 'torrc-defaults');
    await writeFile(file, lines.map(([k, v]) => `${k} ${torrcValue(k!, v!)}`).join('\n') + '\n', { mode: 0o600 });
    await writeFile(defaults, '', { mode: 0o600 });
    try {
      await promisify(execFile)(spec.binary, ['--verify-config', '-f', file, '--defaults-torrc', defaults]);
    } catch (err) {
      const out = `${(err as { stdout?: string }).stdout ?? ''}`.split('\n').filter((l) => /\[(warn|err)\]/.test(l));
      throw new LaunchError('tor refuses the new start-up options, so the running tor was not stopped', out.length ? out : [(err as Error).message]);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
