/**
 * `export --torrc FILE`: the spec of a torrc without running a tor with it. Tor itself is the parser, so
 * `%include`, quoting, repeated keys and the defaults file mean exactly what they mean to tor:
 *
 *   1. `tor --verify-config -f FILE --DataDirectory <throwaway> --DisableNetwork 1 --User ""` checks the file
 *      as tor would run it, but with a data directory of its own and no network (and without the file's User,
 *      who would not own that directory);
 *   2. `tor --dump-config full -f FILE` prints every option's value as tor would run with it, the same values
 *      a live tor's GETCONF gives, which is what makes the two exports agree (both then leave out tor's
 *      compiled-in defaults; `short` would also hide what the defaults file sets).
 *
 * Neither command acts on the options: tor returns after parsing (no directory is created, nothing is
 * bound or contacted). The second runs without the overrides so that the file's own DataDirectory reaches
 * the instance block.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { OptionTable } from '../tor/config/types.js';
import { ReconcileError } from './errors.js';
import { controlAddresses, parseDump, specFromDump, type ExportedSpec, type ExportFlags } from './export.js';

export interface TorrcSource {
  torrc: string;
  /** tor's `--defaults-torrc`; without it tor reads its compiled-in default path, as `tor -f` would. */
  defaultsTorrc?: string;
  /** The tor executable (default `tor` on PATH). */
  binary?: string;
}

export async function exportTorrc(source: TorrcSource, flags: ExportFlags): Promise<ExportedSpec> {
  const files = ['-f', path.resolve(source.torrc), ...(source.defaultsTorrc ? ['--defaults-torrc', path.resolve(source.defaultsTorrc)] : [])];
  const binary = source.binary ?? 'tor';
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'tor-reconcile-import-'));
  try {
    const check = await runTor(binary, ['--verify-config', ...files, '--DataDirectory', path.join(scratch, 'data'), '--DisableNetwork', '1', '--User', '']);
    if (check.code !== 0) throw new ReconcileError(`tor refuses ${source.torrc}:\n${torComplaints(check.stdout + check.stderr)}`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const dump = await runTor(binary, ['--dump-config', 'full', ...files]);
  if (dump.code !== 0) throw new ReconcileError(`tor could not dump ${source.torrc}:\n${torComplaints(dump.stdout + dump.stderr)}`);
  const lines = parseDump(dump.stdout);
  const version = /Tor version (\S+?)\.?$/m.exec((await runTor(binary, ['--version'])).stdout)?.[1];
  const table = OptionTable.bundled();
  const spec = await specFromDump(lines, table, flags);
  if (version && version !== table.torVersion) {
    spec.notes.push(`Values were typed with tor-reconcile's option table of tor ${table.torVersion}; this tor is ${version}.`);
  }
  const control = controlAddresses(lines)[0];
  if (!control) spec.notes.push('The torrc opens no control listener this spec could name: give --control ADDRESS when you use it.');
  return { origin: `${source.torrc} (read by tor ${version ?? '?'})`, fromFiles: true, ...(control ? { control } : {}), ...spec };
}

/** tor's [warn]/[err] lines, or all it said when it said neither. */
function torComplaints(output: string): string {
  const lines = output.split('\n').filter((l) => /\[(warn|err)\]/.test(l));
  return (lines.length ? lines : output.split('\n').filter(Boolean)).map((l) => `  ${l.replace(/^.*?\[(warn|err)\] /, '')}`).join('\n');
}

function runTor(binary: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT'
          ? new ReconcileError(`tor is not installed (no executable "${binary}"): --torrc import lets tor itself read the file. Install tor (Debian: apt-get install tor) or give --tor-binary PATH.`)
          : err,
      );
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}
