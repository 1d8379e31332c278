/**
 * Runs a command under `strace -f` (Debian's strace; .ci/run installs it) and says, from the trace, what it
 * did beyond reading: every process it executed, every file it opened to write or create, every connection,
 * and every rename, unlink, mkdir, chmod, chown, link or truncate (issue #21's read-only proof).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The system calls that can change anything outside the process, or start another one; `?`: may not exist here. */
const TRACED = [
  'execve', 'execveat', 'open', 'openat', '?openat2', 'creat', 'connect',
  'rename', 'renameat', '?renameat2', 'unlink', 'unlinkat', 'rmdir', 'mkdir', 'mkdirat', 'mknod', 'mknodat',
  'chmod', 'fchmod', 'fchmodat', '?fchmodat2', 'chown', 'fchown', 'lchown', 'fchownat',
  'link', 'linkat', 'symlink', 'symlinkat', 'truncate', 'ftruncate',
];

/** Any of these calls is a change, whatever its arguments. */
const ALWAYS_A_CHANGE = /^(creat|rename|renameat2?|unlink|unlinkat|rmdir|mkdir|mkdirat|mknod|mknodat|chmod|fchmod|fchmodat2?|chown|fchown|lchown|fchownat|link|linkat|symlink|symlinkat|truncate|ftruncate)$/;
const WRITE_FLAGS = /\b(O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND|O_TMPFILE)\b/;

export const STRACE = spawnSync('strace', ['-V'], { encoding: 'utf8' }).status === 0;

export interface Syscall {
  pid: number;
  name: string;
  /** Its arguments as strace printed them (up to `<unfinished ...>` when another thread interrupted). */
  args: string;
  /** The first string argument (a path), unescaped as far as strace escapes plain paths. */
  path?: string;
  /** What it returned (a file descriptor, for an open), when it finished. */
  ret?: number;
  /** Line of the trace where it started, and where it finished. */
  at: number;
  done?: number;
}

export interface Traced {
  status: number | null;
  stdout: string;
  stderr: string;
  calls: Syscall[];
}

export function traced(argv: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Traced {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tr-strace-'));
  const log = path.join(dir, 'trace');
  try {
    const r = spawnSync('strace', ['-f', '-qq', '-s', '4096', '-o', log, '-e', `trace=${TRACED.join(',')}`, ...argv], { encoding: 'utf8', timeout: 120_000, ...options });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls: parse(readFileSync(log, 'utf8')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function parse(text: string): Syscall[] {
  const out: Syscall[] = [];
  // A call another thread interrupted (`<unfinished ...>`) finishes on a later `<... NAME resumed>` line.
  const pending = new Map<number, Syscall>();
  text.split('\n').forEach((line, at) => {
    const resumed = /^(\d+)\s+<\.\.\. \w+ resumed>.*\) += (-?\d+)/.exec(line);
    if (resumed) {
      const call = pending.get(Number(resumed[1]));
      pending.delete(Number(resumed[1]));
      if (call) Object.assign(call, { ret: Number(resumed[2]), done: at });
      return;
    }
    const m = /^(\d+)\s+(\w+)\((.*)$/.exec(line);
    if (!m) return;
    const quoted = /"((?:[^"\\]|\\.)*)"/.exec(m[3]!);
    const call: Syscall = { pid: Number(m[1]), name: m[2]!, args: m[3]!, at, ...(quoted ? { path: quoted[1]!.replace(/\\(.)/g, '$1') } : {}) };
    const ret = /\) += (-?\d+)/.exec(m[3]!);
    if (ret) Object.assign(call, { ret: Number(ret[1]), done: at });
    else if (m[3]!.endsWith('<unfinished ...>')) pending.set(call.pid, call);
    out.push(call);
  });
  return out;
}

/** The path the file descriptor `fd` of a call at line `at` was opened with: the latest open that returned it before. */
function fdPath(calls: readonly Syscall[], fd: number, at: number): string | undefined {
  let found: Syscall | undefined;
  for (const c of calls) {
    if (!/^open/.test(c.name) || c.ret !== fd || c.done === undefined || c.done > at) continue;
    if (!found || c.done > found.done!) found = c;
  }
  return found?.path;
}

export interface Allowed {
  /** The control socket (`unix:PATH`) the command may connect to. */
  controlSocket?: string;
  /** Or the loopback control port. */
  controlPort?: number;
  /** The file the caller named (`plan --out FILE`), which may be written. */
  outFile?: string;
}

/** What the trace shows beyond reading, one line each; empty for a read-only run. */
export function changes(calls: readonly Syscall[], allowed: Allowed = {}): string[] {
  const found: string[] = [];
  const execs = calls.filter((c) => c.name === 'execve' || c.name === 'execveat');
  // strace itself starts the command: that one exec is the node process.
  for (const c of execs.slice(1)) found.push(`started a process: ${c.name}(${c.args}`);
  for (const c of calls) {
    if (ALWAYS_A_CHANGE.test(c.name)) {
      // plan --out's atomic write: its temporary file renamed onto the file the caller named.
      const paths = [...c.args.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
      // …and its mode set on the temporary file's descriptor.
      const fd = /^(fchmod|fchown|ftruncate)$/.test(c.name) ? fdPath(calls, Number(/^(\d+)/.exec(c.args)?.[1]), c.at) : undefined;
      const ofOut = allowed.outFile && ((/^rename/.test(c.name) && paths.length === 2 && paths.every((p) => isOutFile(p, allowed.outFile!))) || (fd !== undefined && isOutFile(fd, allowed.outFile)));
      if (!ofOut) found.push(`${c.name}(${c.args}`);
    }
    else if ((c.name === 'open' || c.name === 'openat' || c.name === 'openat2') && WRITE_FLAGS.test(c.args) && !(allowed.outFile && c.path && isOutFile(c.path, allowed.outFile))) found.push(`opened to write: ${c.name}(${c.args}`);
    else if (c.name === 'connect' && !allowedConnect(c.args, allowed)) found.push(`connected: connect(${c.args}`);
  }
  return found;
}

/** `plan --out` writes its file, and may write it through a temporary file beside it. */
function isOutFile(p: string, out: string): boolean {
  return p === out || (path.dirname(p) === path.dirname(out) && path.basename(p).includes(path.basename(out)));
}

function allowedConnect(args: string, allowed: Allowed): boolean {
  if (allowed.controlSocket && args.includes(`sun_path="${allowed.controlSocket}"`)) return true;
  if (allowed.controlPort !== undefined && args.includes(`sin_port=htons(${allowed.controlPort})`) && args.includes('inet_addr("127.0.0.1")')) return true;
  return false;
}

/** Every call that named a path under `dir`, read or write. */
export function touched(calls: readonly Syscall[], dir: string): Syscall[] {
  return calls.filter((c) => c.path !== undefined && (c.path === dir || c.path.startsWith(`${dir}/`)));
}
