/**
 * Shared by the reliability suites: running the CLI (in-process and as a real child process), a TCP proxy
 * that can record, delay or cut the control connection, tors with password authentication, liveness
 * checks, and the figures every suite prints for RELIABILITY.md.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { assertOfflineArgs } from '../helpers/offline.mjs';
import { run, type CliIo } from '../../src/cli/program.js';
import { connect } from '../../src/tor/client.js';
import type { ControlAddress } from '../../src/tor/address.js';
import { clientAuthPrivateLine, generateClientAuthKeyPair, generateServiceKey } from '../../src/tor/onion/index.js';

export const ROOT = path.join(import.meta.dirname, '../..');
export const CLI = path.join(ROOT, 'dist/cli/main.cjs');
export const CRASH_HOOK = path.join(ROOT, 'test/reliability/crash-hook.mjs');

/** Commands that only read; anything else changes tor. */
export const READ_ONLY = new Set(['GETINFO', 'GETCONF', 'ONION_CLIENT_AUTH_VIEW', 'SETEVENTS', 'PROTOCOLINFO', 'AUTHCHALLENGE', 'AUTHENTICATE']);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Every command TOR_RECONCILE_TRACE showed, in order (redacted display form). */
  sent: string[];
  mutating: string[];
  ms: number;
}

function traced(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('> ') && !/^> \d+ commands in \d+ round trips/.test(l))
    .map((l) => l.slice(2));
}

/** The CLI in this process (`run()`), with the trace on so every command sent is counted. */
export async function cli(argv: string[], env: Record<string, string | undefined> = {}, onStderr?: (text: string) => void): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (s) => void (stdout += s),
    stderr: (s) => {
      stderr += s;
      onStderr?.(s);
    },
    env: { TOR_RECONCILE_TRACE: '1', NO_COLOR: '1', ...env },
  };
  const t0 = performance.now();
  const code = await run(argv, io);
  const sent = traced(stderr);
  return { code, stdout, stderr, sent, mutating: sent.filter((c) => !READ_ONLY.has(c.split(' ')[0]!)), ms: performance.now() - t0 };
}

export interface ChildResult extends CliResult {
  signal: NodeJS.Signals | null;
  /** The deadline passed and the child was killed by us: a hang. */
  hung: boolean;
}

/**
 * `node dist/cli/main.cjs …` as a user runs it: a real process that can be SIGKILLed (the fault hook) and
 * whose exit code and signal are what the shell sees. Killed after `deadlineMs` so a hang fails the test
 * instead of stalling CI.
 */
export function cliChild(
  argv: string[],
  options: { env?: Record<string, string>; cwd?: string; deadlineMs?: number; umask?: number; onStderr?: (text: string) => void } = {},
): Promise<ChildResult> {
  // The fault hook comes only from the test that asks for it, never from the environment vitest runs in.
  const env: NodeJS.ProcessEnv = { ...process.env, TOR_RECONCILE_TRACE: '1', NO_COLOR: '1', TOR_RECONCILE_FAULT: undefined, ...options.env };
  const node = env.TOR_RECONCILE_FAULT ? ['--import', CRASH_HOOK, CLI] : [CLI];
  const [cmd, args] =
    options.umask === undefined
      ? [process.execPath, [...node, ...argv]]
      : ['/bin/sh', ['-c', `umask ${options.umask.toString(8).padStart(3, '0')} && exec "$0" "$@"`, process.execPath, ...node, ...argv]];
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args as string[], { env, cwd: options.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let hung = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      options.onStderr?.(stderr);
    });
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, options.deadlineMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const sent = traced(stderr);
      resolve({ code: code ?? -1, signal, hung, stdout, stderr, sent, mutating: sent.filter((c) => !READ_ONLY.has(c.split(' ')[0]!)), ms: performance.now() - t0 });
    });
  });
}

/**
 * Fails early with a clear message when a compiled file is older than its source: the child-process suites
 * and the fuzzing worker run dist/, and would otherwise test yesterday's code. A source file with no compiled
 * counterpart yet cannot be imported by dist/ and is left out.
 */
export function assertFreshBuild(): void {
  const stale: string[] = [];
  const walkSrc = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walkSrc(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const out = path.join(ROOT, 'dist', path.relative(path.join(ROOT, 'src'), p)).replace(/\.ts$/, '.js');
        if (existsSync(out) && statSync(out).mtimeMs + 1000 < statSync(p).mtimeMs) stale.push(path.relative(ROOT, p));
      }
    }
  };
  walkSrc(path.join(ROOT, 'src'));
  if (stale.length) throw new Error(`dist/ is older than ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', …' : ''}: run npm run build (npm test does)`);
}


// ---------------------------------------------------------------------------------------------------------
// Figures: one line per suite, grepped from the test output into RELIABILITY.md.

export function figures(suite: string, values: Record<string, number | string>): void {
  const text = Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  console.log(`[reliability] ${suite}: ${text}`);
}

// ---------------------------------------------------------------------------------------------------------
// TCP proxy in front of a tor's ControlPort.

export interface ProxyHooks {
  /** Bytes from the client on their way to tor; return false to stop forwarding (the hook took over). */
  toTor?(chunk: Buffer, conn: ProxyConn): boolean | void;
  /** Bytes from tor on their way to the client. */
  toClient?(chunk: Buffer, conn: ProxyConn): boolean | void;
  /** Delay, in ms, before each chunk is forwarded (either direction); order is kept. */
  delayMs?: number;
}

export interface ProxyConn {
  client: net.Socket;
  tor: net.Socket;
  /** Cut both sides at once, as a dropped network path would look to the client (a reset). */
  cut(): void;
}

export interface Proxy {
  address: string;
  /** Everything clients sent, per connection, as text. */
  sent: string[];
  connections: number;
  close(): Promise<void>;
}

export async function startProxy(target: ControlAddress, hooks: ProxyHooks = {}): Promise<Proxy> {
  if (target.type !== 'tcp') throw new Error('the proxy needs a tor with a TCP ControlPort (launch with control: "port")');
  const sockets = new Set<net.Socket>();
  const sent: string[] = [];
  let connections = 0;
  const server = net.createServer((client) => {
    const index = connections++;
    sent[index] = '';
    const tor = net.connect(target.port, target.host);
    sockets.add(client).add(tor);
    const conn: ProxyConn = {
      client,
      tor,
      cut() {
        client.resetAndDestroy();
        tor.destroy();
      },
    };
    // A delay queue per direction: each chunk waits its turn, so order is kept and delays add up as on a slow link.
    const pipe = (from: net.Socket, to: net.Socket, hook: ProxyHooks['toTor'], record: boolean) => {
      let chain = Promise.resolve();
      from.on('data', (chunk: Buffer) => {
        if (record) sent[index] += chunk.toString('latin1');
        if (hook?.(chunk, conn) === false) return;
        if (!hooks.delayMs) {
          if (!to.destroyed) to.write(chunk);
          return;
        }
        chain = chain.then(() => new Promise((r) => setTimeout(r, hooks.delayMs))).then(() => void (to.destroyed || to.write(chunk)));
      });
      from.on('close', () => void chain.then(() => to.destroy()));
      from.on('error', () => {});
    };
    pipe(client, tor, hooks.toTor, true);
    pipe(tor, client, hooks.toClient, false);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `tcp:127.0.0.1:${port}`,
    sent,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Tor

/** Alive means both: the process exists and it still answers a fresh control connection. */
export async function torAlive(pid: number, control: ControlAddress, auth: { cookieFile?: string; password?: string } = {}): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const c = await connect({ control, connectTimeout: 5000, timeout: 5000, ...auth });
    const version = await c.getInfo('version');
    await c.close();
    return version.length > 0;
  } catch {
    return false;
  }
}

/**
 * Tor's HashedControlPassword format (RFC 2440 iterated and salted S2K, SHA-1, c = 96), computed here so
 * that any byte string can be a password (`tor --hash-password` takes it from argv: no NUL, no control bytes).
 */
export function torPasswordHash(password: string | Buffer): string {
  const secret = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  const salt = randomBytes(8);
  const c = 96;
  const count = (16 + (c & 15)) << ((c >> 4) + 6);
  const block = Buffer.concat([salt, secret]);
  const h = createHash('sha1');
  for (let left = count; left > 0; ) {
    const n = Math.min(left, block.length);
    h.update(block.subarray(0, n));
    left -= n;
  }
  return '16:' + Buffer.concat([salt, Buffer.from([c]), h.digest()]).toString('hex').toUpperCase();
}

export interface PasswordTor {
  pid: number;
  control: ControlAddress;
  stop(): Promise<void>;
}

/**
 * A tor that accepts only HashedControlPassword: with cookie authentication on, tor-reconcile would pick
 * SAFECOOKIE and never send the password at all, and a password test would prove nothing.
 */
export async function startPasswordTor(hashes: string[]): Promise<PasswordTor> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tr-pwtor-'));
  const portFile = path.join(dir, 'control-port');
  const torrc = path.join(dir, 'torrc');
  await writeFile(torrc, '');
  const args = ['-f', torrc, '--defaults-torrc', torrc, '--DataDirectory', path.join(dir, 'data'), '--ControlPort', 'auto', '--ControlPortWriteToFile', portFile,
    '--CookieAuthentication', '0', '--DisableNetwork', '1', '--SocksPort', '0', '--AvoidDiskWrites', '1', '--Log', 'notice stdout', '__OwningControllerProcess', String(process.pid)];
  for (const h of hashes) args.push('--HashedControlPassword', h);
  const child = spawn('tor', assertOfflineArgs(args, 'the password tor'), { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const m = /PORT=127\.0\.0\.1:(\d+)\s*$/.exec(await readFile(portFile, 'utf8').catch(() => ''));
    if (m) return { pid: child.pid!, control: { type: 'tcp', host: '127.0.0.1', port: Number(m[1]) }, stop };
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`tor did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---------------------------------------------------------------------------------------------------------
// A spec that exercises every kind of apply step

export const FULL_SPEC_FS = ['hs/web', 'hs/deeper/blog'];
export const FULL_SPEC_EPHEMERAL = ['api', 'admin', 'metrics'];

/**
 * Options, two filesystem services (one with an authorized client, one whose parent directory does not
 * exist yet), three ephemeral services with generated keys (one with a client), and client auth for a
 * remote service: every step kind apply has. Writes spec.yaml (and the ${file:} it reads) into `dir`.
 */
export async function writeFullSpec(dir: string): Promise<{ spec: string; remoteAddress: string }> {
  const alice = generateClientAuthKeyPair();
  const ops = generateClientAuthKeyPair();
  const remote = generateServiceKey();
  const spec = path.join(dir, 'spec.yaml');
  await writeFile(
    spec,
    `version: 1
stateDirectory: ./state
options:
  ContactInfo: crash-test@example.org
  MaxCircuitDirtiness: 5 minutes
onionServices:
  - name: web
    type: filesystem
    directory: ./hs/web
    ports: [{ port: 80, target: 127.0.0.1:8080 }]
    authorizedClients: [{ name: alice, publicKey: ${alice.publicKey} }]
  - name: blog
    type: filesystem
    directory: ./hs/deeper/blog
    ports: [{ port: 80, target: 127.0.0.1:8081 }]
  - { name: api, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: 127.0.0.1:9000 }] }
  - { name: admin, type: ephemeral, key: { generate: true }, ports: [{ port: 81, target: 127.0.0.1:9001 }], authorizedClients: [{ name: ops, publicKey: ${ops.publicKey} }] }
  - { name: metrics, type: ephemeral, key: { generate: true }, ports: [{ port: 82, target: 127.0.0.1:9002 }] }
clientAuth:
  - { privateKey: "\${file:./remote.auth_private}", name: remote }
`,
  );
  await writeFile(path.join(dir, 'remote.auth_private'), clientAuthPrivateLine(remote.address, alice.privateKey).reveal() + '\n', { mode: 0o600 });
  return { spec, remoteAddress: remote.address };
}

// ---------------------------------------------------------------------------------------------------------
// Files

export async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = path.join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...(await walk(p)));
  }
  return out;
}

export async function mode(file: string): Promise<number> {
  return (await stat(file)).mode & 0o777;
}

/** Temporary files of writeSecretFileAtomic (`.<name>.<hex>.tmp`) or anything else ending in .tmp. */
export function isTempFile(file: string): boolean {
  return /\.tmp$/.test(path.basename(file));
}
