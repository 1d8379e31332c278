/**
 * What persistence steps do to files: verify a new drop-in with tor itself before it replaces the old one,
 * and add the `%include` line to tor's torrc (after a backup).
 */
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile, chown } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { reveal, type MaybeSecret } from '../../tor/secret.js';
import { writeSecretFileAtomic } from '../../tor/onion/index.js';
import { PersistError } from '../errors.js';
import { expandInclude } from './live.js';
import { includeCovers, includesOf, includeLine } from './torrc.js';

const run = promisify(execFile);

/** As readLivePersist: deeper include chains are not followed. */
const MAX_INCLUDE_DEPTH = 8;

export interface VerifyInput {
  /** Where the drop-in goes. */
  path: string;
  content: MaybeSecret;
  torrc?: string;
  defaults?: string;
  binary: string;
  /** Verify as root with `--User` this user, which tor then checks owns the service directories (and the DataDirectory). */
  user?: { name: string; uid: number; gid: number };
}

/**
 * `tor --verify-config` on the configuration tor would read at its next start with the new drop-in: tor's
 * torrc and defaults file, each `%include` that reads the drop-in pointed at the candidate instead (expanded
 * file by file), with a throwaway DataDirectory and DisableNetwork 1 so that it touches nothing. Throws
 * PersistError with tor's own messages when tor refuses it.
 */
export async function verifyDropIn(v: VerifyInput): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tor-reconcile-verify-'));
  try {
    const data = path.join(dir, 'data');
    await mkdir(data, { mode: 0o700 });
    if (v.user) {
      // tor checks the DataDirectory as that user: it must reach it (the files beside it stay 0600, root's).
      await chmod(dir, 0o711);
      await chown(data, v.user.uid, v.user.gid);
    }
    const candidate = path.join(dir, path.basename(v.path));
    await writeFile(candidate, reveal(v.content), { mode: 0o600 });
    // Tor's files rewritten into `dir`, each `%include` expanded file by file (tor's order), the drop-in replaced
    // by the candidate wherever it is read, through however many includes.
    let used = false;
    let copies = 0;
    const rewrite = async (text: string, depth: number): Promise<string> => {
      const lines: string[] = [];
      for (const line of text.split('\n')) {
        const pattern = includesOf(line)[0];
        if (pattern === undefined || depth >= MAX_INCLUDE_DEPTH) {
          lines.push(line);
          continue;
        }
        const files = (await expandInclude(pattern)).filter((f) => f !== v.path);
        // A drop-in not written yet sorts into the directory or glob that will read it.
        if (includeCovers(pattern, v.path)) files.push(v.path);
        if (files.length > 1) files.sort();
        for (const f of files) {
          if (f === v.path) {
            used = true;
            lines.push(includeLine(candidate));
            continue;
          }
          const inner = await readFile(f, 'utf8').catch(() => undefined);
          // What cannot be read is left for tor to report.
          lines.push(includeLine(inner === undefined ? f : await save(await rewrite(inner, depth + 1))));
        }
      }
      return lines.join('\n') + '\n';
    };
    const save = async (text: string) => {
      const out = path.join(dir, `torrc-${copies++}`);
      await writeFile(out, text, { mode: 0o600 });
      return out;
    };
    const defaults = await save(await rewrite(v.defaults ? await readFile(v.defaults, 'utf8') : '', 0));
    let torrcText = await rewrite(v.torrc ? await readFile(v.torrc, 'utf8') : '', 0);
    // Not read by tor's files yet: as it will be once the %include line is added.
    if (!used) torrcText += includeLine(candidate) + '\n';
    const torrc = await save(torrcText);
    const args = ['--verify-config', '--defaults-torrc', defaults, '-f', torrc, '--DataDirectory', data, '--DisableNetwork', '1', '--Log', 'notice stdout'];
    // Without a user to verify as, we are tor's user: tor refuses a User naming the user it already runs as
    // (Debian's defaults file has one, for the root that starts it), so none is checked.
    args.push('--User', v.user?.name ?? '');
    try {
      await run(v.binary, args, { timeout: 60_000 });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      const said = `${e.stdout ?? ''}\n${e.stderr ?? ''}`
        .split('\n')
        .filter((l) => /\[(warn|err)\]/.test(l))
        .map((l) => l.replace(/^.*?\[(warn|err)\] /, '').split(candidate).join(`${v.path} (new)`).split(torrc).join(v.torrc ?? 'torrc').split(defaults).join(v.defaults ?? 'defaults'))
        .filter((l) => !/You are running Tor as root/.test(l));
      const at = lineOf(reveal(v.content), said);
      throw new PersistError(`tor --verify-config refused the new ${at ? `${v.path}:${at}` : v.path}, which was not installed: ${said.length ? said.join(' | ') : e.message}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Tor names what it refuses (an option, a directory) but not where: the first line of the new file holding
 * something tor quoted is where to look.
 */
export function lineOf(content: string, said: readonly string[]): number | undefined {
  // \u201C and \u201D: tor's curly quotes, escaped so that the CLI bundle stays ASCII (scripts/build-cli.mjs).
  const quoted = said.flatMap((l) => [...l.matchAll(/["'\u201C]([^"'\u201D]+)["'\u201D]/g)].map((m) => m[1]!));
  const lines = content.split('\n');
  for (const q of quoted) {
    const i = lines.findIndex((l) => !l.startsWith('#') && l.split(/\s+/).some((w) => w === q || w.replace(/^"|"$/g, '') === q));
    if (i >= 0) return i + 1;
  }
  return undefined;
}

export async function writeDropIn(file: string, content: MaybeSecret, mode: number, gid: number | undefined): Promise<void> {
  // A drop-in directory the torrc names (`%include /etc/tor/torrc.d/`) may not exist yet; tor reads it as root or its user.
  await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  await writeSecretFileAtomic(file, content, mode);
  if (gid !== undefined) await chown(file, -1, gid);
}

/** Appends `line` to `torrc` (unless there already), keeping a copy of the file as it was in `torrc.tor-reconcile.bak`. */
export async function addInclude(torrc: string, line: string): Promise<void> {
  const text = await readFile(torrc, 'utf8');
  if (text.split('\n').some((l) => l.trim() === line)) return;
  const st = await stat(torrc);
  await copyFile(torrc, `${torrc}.tor-reconcile.bak`);
  await writeSecretFileAtomic(torrc, `${text}${text.endsWith('\n') || !text ? '' : '\n'}# Added by tor-reconcile: the part of tor's configuration a spec owns.\n${line}\n`, st.mode & 0o7777);
  await chown(torrc, st.uid, st.gid);
}
