/**
 * The onionbalance process of a balanced service with `onionbalance: { manage: true }` (issue #17).
 * tor-reconcile runs Debian's Onionbalance as it is (never re-implements it): started detached so it outlives
 * a one-shot `apply`, its pid recorded in `<frontend.directory>/onionbalance.pid`, its output appended to
 * `<frontend.directory>/onionbalance.log`, and reloaded with SIGHUP (0.2.2 re-reads config.yaml and the key
 * on SIGHUP; a config.yaml it refuses makes it exit, which the reload reports).
 *
 * A pid is only ever signalled when it is still the process tor-reconcile started: the record holds the
 * kernel's start time of that pid (`/proc/<pid>/stat`), and the process must be called `onionbalance`
 * (it sets its own title), so a pid the kernel gave to another process since is never signalled.
 *
 * Reading the state (`readObState`) only reads the record and /proc: plan and status start nothing.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ManagedOnionbalance } from '../spec/model.js';
import { ReconcileError } from '../reconcile/errors.js';
import { lockStateDirectory } from '../reconcile/local.js';
import { parseControlAddress } from '../tor/address.js';
import { writeSecretFileAtomic } from '../tor/onion/persist.js';
import { Secret } from '../tor/secret.js';

/** What `onionbalance.pid` records: the process, and what it was started or last reloaded with. */
export interface ObRecord {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: with the pid, names one process for the life of the machine. */
  startTime: string;
  argv: string[];
  /** `obDigest` of the config.yaml and frontend it last read. */
  digest: string;
}

export interface ObState {
  /** The recorded process, when it is still running (same pid, same start time, called onionbalance). */
  running?: ObRecord;
  /** A record whose process is gone, or whose pid is now another process's: never signalled. */
  stale?: ObRecord;
  /** The stale record's pid is now another process (the kernel reused it). */
  recycled?: boolean;
  /** Why the pid file could not be read (it is replaced on start). */
  unreadable?: string;
}

export type ObAction = 'start' | 'reload' | 'restart';

/** What a start, reload or restart came to: `done` null when another tor-reconcile had done it meanwhile. */
export interface ObOutcome {
  record: ObRecord;
  done: ObAction | null;
}

/** The plan for the process: what apply does (after config.yaml is written), and why. */
export interface ObPlan {
  action: ObAction | null;
  reason: string;
  argv: string[];
  pidFile: string;
  logFile: string;
  /** The running process's pid, when there is one. */
  pid?: number;
}

export function obFiles(frontendDirectory: string): { pidFile: string; logFile: string } {
  return { pidFile: path.join(frontendDirectory, 'onionbalance.pid'), logFile: path.join(frontendDirectory, 'onionbalance.log') };
}

/**
 * The command line. Onionbalance tries the socket `-s` before `-i/-p` whatever is given: with a TCP control
 * port, `-s` names a path in the frontend directory that tor-reconcile never creates; with a socket, `-p 1`
 * (nothing listens there) makes a missing socket an error rather than a silent fallback to 127.0.0.1:9051.
 */
export function obArgv(m: ManagedOnionbalance, configFile: string, frontendDirectory: string): string[] {
  const address = parseControlAddress(m.control);
  const control =
    address.type === 'unix'
      ? ['-s', address.path, '-i', '127.0.0.1', '-p', '1']
      : ['-s', path.join(frontendDirectory, 'no-control-socket'), '-i', address.host, '-p', String(address.port)];
  return [m.binary, ...control, '-c', configFile, '-v', m.verbosity, ...(m.isTestnet ? ['--is-testnet'] : [])];
}

/** Binds a running process to what it read: config.yaml's text and the frontend address (its key's). */
export function obDigest(configYaml: string, address: string): string {
  return createHash('sha256').update(configYaml).update('\0').update(address).digest('hex');
}

/** The start time of `pid` and its name, or undefined when there is no such process. */
async function procInfo(pid: number): Promise<{ startTime: string; name: string } | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The name is in parentheses and may hold spaces or ')': the fields after the last ')' are fixed.
    const close = text.lastIndexOf(')');
    const fields = text.slice(close + 2).split(' ');
    // fields[0] is field 3 (state); field 22 is the start time. A zombie has exited.
    if (fields[0] === 'Z') return undefined;
    return { startTime: fields[19]!, name: text.slice(text.indexOf('(') + 1, close) };
  } catch {
    return undefined;
  }
}

/** Whether `record` still names the process tor-reconcile started. */
export async function isOurs(record: ObRecord): Promise<boolean> {
  const info = await procInfo(record.pid);
  return info !== undefined && info.startTime === record.startTime && info.name === 'onionbalance';
}

/** Read-only: the pid file and /proc. */
export async function readObState(frontendDirectory: string): Promise<ObState> {
  const { pidFile } = obFiles(frontendDirectory);
  let record: ObRecord;
  try {
    record = JSON.parse(await readFile(pidFile, 'utf8')) as ObRecord;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    return { unreadable: `${pidFile}: ${(err as Error).message}` };
  }
  if (!Number.isSafeInteger(record.pid) || record.pid <= 0 || typeof record.startTime !== 'string') return { unreadable: `${pidFile}: not a pid record of tor-reconcile` };
  if (await isOurs(record)) return { running: record };
  return { stale: record, recycled: (await procInfo(record.pid)) !== undefined };
}

/**
 * What apply does to the process, for the config.yaml and frontend of `digest`; `pending`: backends whose
 * address their tor assigns during apply (config.yaml changes then, so a running process is reloaded). Pure.
 */
export function planOb(m: ManagedOnionbalance, frontendDirectory: string, configFile: string, state: ObState, digest: string, pending: readonly string[] = []): ObPlan {
  const argv = obArgv(m, configFile, frontendDirectory);
  const files = obFiles(frontendDirectory);
  const r = state.running;
  if (!r) {
    const reason = state.stale
      ? state.recycled
        ? `not running (pid ${state.stale.pid} of the pid file is now another process, never signalled)`
        : `not running (pid ${state.stale.pid} of the pid file has exited)`
      : state.unreadable
        ? `not running as far as tor-reconcile knows (${state.unreadable})`
        : 'not running';
    return { action: 'start', reason, argv, ...files };
  }
  const base = { argv, ...files, pid: r.pid };
  if (r.argv.join('\0') !== argv.join('\0')) return { action: 'restart', reason: `running (pid ${r.pid}) with another command line: ${r.argv.join(' ')}`, ...base };
  if (r.digest !== digest) return { action: 'reload', reason: `running (pid ${r.pid}) with an older config.yaml`, ...base };
  if (pending.length) return { action: 'reload', reason: `running (pid ${r.pid}); config.yaml gains the address of ${pending.join(', ')} on apply`, ...base };
  return { action: null, reason: `running (pid ${r.pid}), config.yaml loaded`, ...base };
}

/** How long a start or reload may take before Onionbalance says it is initialized (it imports stem, loads keys). */
const READY_TIMEOUT_MS = 30_000;
/** Onionbalance's line once it has read its config and connected to its tor (on start and on each reload). */
const READY = 'Onionbalance initialized';

/** The log from `offset` on. */
async function logSince(logFile: string, offset: number): Promise<string> {
  const text = await readFile(logFile).catch(() => Buffer.alloc(0));
  return text.subarray(offset).toString('utf8');
}

/** The last lines of what Onionbalance logged since `offset`, for an error message. */
async function tail(logFile: string, offset: number): Promise<string> {
  const lines = (await logSince(logFile, offset)).trimEnd().split('\n');
  return lines.slice(-8).join('\n');
}

/** Waits until the log has READY after `offset` (resolves) or the process is gone (throws with the log's tail). */
async function waitReady(record: ObRecord, logFile: string, offset: number, what: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if ((await logSince(logFile, offset)).includes(READY)) return;
    if (!(await isOurs(record))) throw new ReconcileError(`onionbalance ${what} failed: the process exited. ${logFile}:\n${await tail(logFile, offset)}`);
    if (Date.now() > deadline) throw new ReconcileError(`onionbalance ${what}: no "${READY}" in ${logFile} after ${READY_TIMEOUT_MS / 1000} s (pid ${record.pid} still runs)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function writeRecord(pidFile: string, record: ObRecord): Promise<void> {
  await writeSecretFileAtomic(pidFile, new Secret(Buffer.from(JSON.stringify(record) + '\n')));
}

/** Starts the process detached (it outlives the CLI), records it, and waits until it has loaded config.yaml. */
export async function startOb(p: ObPlan, digest: string): Promise<ObRecord> {
  const log = await open(p.logFile, 'a', 0o600);
  const offset = (await stat(p.logFile)).size;
  let child;
  try {
    child = spawn(p.argv[0]!, p.argv.slice(1), { detached: true, stdio: ['ignore', log.fd, log.fd], cwd: path.dirname(p.pidFile) });
    await new Promise<void>((resolve, reject) => {
      child!.once('spawn', resolve);
      child!.once('error', (err: Error) => reject(new ReconcileError(`cannot run ${p.argv[0]}: ${err.message}`, { cause: err })));
    });
  } finally {
    await log.close();
  }
  child.unref();
  const info = await procInfo(child.pid!);
  if (!info) throw new ReconcileError(`onionbalance exited at once. ${p.logFile}:\n${await tail(p.logFile, offset)}`);
  const record: ObRecord = { pid: child.pid!, startTime: info.startTime, argv: p.argv, digest };
  await writeRecord(p.pidFile, record);
  await waitReady(record, p.logFile, offset, 'start');
  return record;
}

/** SIGHUP to the recorded process, only while it is still ours; waits until it has re-read config.yaml. */
export async function reloadOb(p: ObPlan, record: ObRecord, digest: string): Promise<ObRecord> {
  if (!(await isOurs(record))) throw new ReconcileError(`onionbalance (pid ${record.pid}) is no longer running; not signalled`);
  const offset = (await stat(p.logFile).catch(() => ({ size: 0 }))).size;
  process.kill(record.pid, 'SIGHUP');
  await waitReady(record, p.logFile, offset, 'reload');
  const next = { ...record, digest };
  await writeRecord(p.pidFile, next);
  return next;
}

/** SIGTERM to the recorded process while it is ours, then waits (10 s) until it is gone. */
export async function stopOb(record: ObRecord): Promise<void> {
  if (!(await isOurs(record))) return;
  process.kill(record.pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (await isOurs(record)) {
    if (Date.now() > deadline) throw new ReconcileError(`onionbalance (pid ${record.pid}) did not exit within 10 s of SIGTERM`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** How long a start or reload waits for another one (apply and watch share the frontend directory) to finish. */
const LOCK_WAIT_MS = READY_TIMEOUT_MS + 15_000;

/**
 * Runs the plan's action, holding `<frontend.directory>/.lock` so that an apply and a watch (or two applies)
 * never both start one. Under the lock the process is looked at again: one already running with this command
 * line and config (another tor-reconcile did it meanwhile) is left as it is. Onionbalance refuses a
 * config.yaml without instances, so that is refused first.
 */
export async function runOb(p: ObPlan, digest: string, instances: number): Promise<ObOutcome | undefined> {
  if (!p.action) return undefined;
  if (!instances) throw new ReconcileError(`onionbalance not ${p.action === 'reload' ? 'reloaded' : 'started'}: config.yaml lists no backend address yet (Onionbalance needs at least one)`);
  const release = await lockStateDirectory(path.dirname(p.pidFile), LOCK_WAIT_MS);
  try {
    const state = await readObState(path.dirname(p.pidFile));
    const r = state.running;
    if (r && r.digest === digest && r.argv.join('\0') === p.argv.join('\0')) return { record: r, done: null };
    return { record: await act(p, state, digest), done: p.action };
  } finally {
    await release();
  }
}

async function act(p: ObPlan, state: ObState, digest: string): Promise<ObRecord> {
  // The plan saw none running; one started since (with another config) is not started twice.
  if (p.action === 'start' && state.running) throw new ReconcileError(`onionbalance was started meanwhile by another tor-reconcile (pid ${state.running.pid}); not started twice (run apply again)`);
  if (p.action === 'start') return startOb(p, digest);
  // The plan saw it running; what exited since is not started behind the plan's back.
  if (!state.running) throw new ReconcileError(`onionbalance (pid ${p.pid}) exited after the plan; not ${p.action === 'reload' ? 'reloaded' : 'restarted'} (run apply again)`);
  if (p.action === 'reload') return reloadOb(p, state.running, digest);
  await stopOb(state.running);
  return startOb(p, digest);
}
