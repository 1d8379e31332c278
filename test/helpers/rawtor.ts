/**
 * A real tor for integration tests, driven over a raw socket (no typed client): no network, no SOCKS
 * port, an unauthenticated control port on 127.0.0.1 (`AUTHENTICATE` with no credentials works).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Command } from '../../src/tor/protocol/encoder.js';
import { ReplyReader } from '../../src/tor/protocol/reader.js';
import type { Reply } from '../../src/tor/protocol/reply.js';

export interface RawTor {
  port: number;
  dataDir: string;
  /** Stops tor (waiting for it to exit) and removes its directory; safe to call more than once. */
  stop(): Promise<void>;
}

export async function startRawTor(extraArgs: string[] = []): Promise<RawTor> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tor-reconcile-rawtor-'));
  const dataDir = path.join(dir, 'data');
  const portFile = path.join(dir, 'control-port');
  // An empty file, not /dev/null: tor 0.4.9 refuses a torrc that is not a regular file.
  const torrc = path.join(dir, 'torrc');
  writeFileSync(torrc, '');
  const child = spawn(
    'tor',
    ['-f', torrc, '--defaults-torrc', torrc, '--DataDirectory', dataDir, '--ControlPort', 'auto',
      '--ControlPortWriteToFile', portFile, '--CookieAuthentication', '0', '--DisableNetwork', '1', '--SocksPort', '0',
      '--Log', 'notice stdout', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (!stopped) {
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      // tor writes "PORT=127.0.0.1:NNNN"; the file can exist before the line is complete.
      const m = existsSync(portFile) ? /:(\d+)\s*$/.exec(readFileSync(portFile, 'utf8')) : null;
      if (m) return { port: Number(m[1]), dataDir, stop };
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`tor exited before opening its control port:\n${log}`);
      if (Date.now() > deadline) throw new Error(`tor did not open its control port within 30 s:\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await stop();
    throw err;
  }
}

/** One control connection: commands answered strictly in order; events (6xx) are ignored. */
export interface RawControl {
  send(command: Command | string): Promise<Reply>;
  close(): void;
}

export async function connectRaw(port: number): Promise<RawControl> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const reader = new ReplyReader();
  const waiting: Array<{ resolve: (r: Reply) => void; reject: (e: Error) => void }> = [];
  const failAll = (err: Error): void => {
    for (const w of waiting.splice(0)) w.reject(err);
  };
  socket.on('data', (chunk: Buffer) => {
    try {
      for (const reply of reader.push(chunk)) {
        if (reply.code >= 600 && reply.code < 700) continue;
        waiting.shift()?.resolve(reply);
      }
    } catch (err) {
      failAll(err as Error);
      socket.destroy();
    }
  });
  socket.on('error', failAll);
  socket.on('close', () => failAll(new Error('control connection closed')));
  const control: RawControl = {
    send(command) {
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        socket.write(typeof command === 'string' ? `${command}\r\n` : command.wire);
      });
    },
    close() {
      socket.destroy();
    },
  };
  const auth = await control.send('AUTHENTICATE');
  if (auth.code !== 250) {
    control.close();
    throw new Error(`AUTHENTICATE failed: ${auth.code}`);
  }
  return control;
}
