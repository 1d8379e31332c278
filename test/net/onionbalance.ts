/**
 * Debian's Onionbalance (0.2.2) started by a test on a tor of the private network, until tor-reconcile starts it
 * itself (`onionbalance: { manage: true }`): then only this file is swapped. Facts behind the arguments:
 * /work/shared/notes/onionbalance.md and the package's source (/usr/lib/python3/dist-packages/onionbalance/).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { TorClient } from '../../src/tor/client.js';

export interface RunningOnionbalance {
  pid: number;
  /** Its standard output and error (its log), kept after it exits. */
  logPath: string;
  log(): Promise<string>;
  /** SIGTERM, then SIGKILL after 5 s. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Open a TCP control port on `tor` (a tor of its own: Onionbalance sends it NEWNYM on every fetch) and start
 * `onionbalance --is-testnet` on it with `config`. `dir` holds the log. `-s` names a socket that does not
 * exist: Onionbalance tries the socket before `-i/-p`, and its default is the system tor's.
 */
export async function startOnionbalance(tor: TorClient, config: string, dir: string): Promise<RunningOnionbalance> {
  await tor.setConf([['ControlPort', '127.0.0.1:auto']]);
  const listener = /"?127\.0\.0\.1:(\d+)"?/.exec(await tor.getInfo('net/listeners/control'));
  if (!listener) throw new Error('the frontend tor opened no TCP control port');
  const logPath = path.join(dir, 'onionbalance.log');
  const out = createWriteStream(logPath);
  const args = ['--is-testnet', '-v', 'info', '-s', path.join(dir, 'no-such-control-socket'), '-i', '127.0.0.1', '-p', listener[1]!, '-c', config];
  const child: ChildProcess = spawn('onionbalance', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(out, { end: false });
  child.stderr!.pipe(out, { end: false });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  // A test process that dies without stop() must not leave it running.
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid!,
    logPath,
    log: () => readFile(logPath, 'utf8'),
    stop: () =>
      (stopping ??= (async () => {
        process.removeListener('exit', kill);
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(timer);
        }
        await new Promise<void>((resolve) => out.end(resolve));
      })()),
  };
}
