/**
 * What the filesystem is, for plan-filesystem.ts to judge (fs-access.ts): every component of a path tor must
 * reach (lstat: owner, group, mode, symlink target), and who tor runs as (its user and groups from the
 * passwd and group databases). Reads only; decisions are in fs-access.ts, effects in fs-effects.ts.
 */
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { PathEntry, PathProbe, TorIdentity } from './types.js';

/** Linux's own limit on symlinks followed in one lookup. */
const MAX_LINKS = 40;

/** One path component as lstat sees it; `missing` when nothing is there. `empty` is read for a directory with `contents`. */
export async function probeEntry(file: string, inDir = path.dirname(file), contents = true): Promise<PathEntry> {
  const at = { path: file, in: file === '/' ? '' : inDir };
  try {
    const st = await lstat(file);
    const facts = { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 };
    if (st.isSymbolicLink()) return { ...at, kind: 'symlink', ...facts, target: path.resolve(path.dirname(file), await readlink(file)) };
    if (st.isDirectory()) {
      if (!contents) return { ...at, kind: 'dir', ...facts };
      // An unreadable directory counts as not empty: never take over what we cannot see.
      const empty = await readdir(file).then((names) => names.length === 0, () => false);
      return { ...at, kind: 'dir', ...facts, empty };
    }
    return { ...at, kind: st.isFile() ? 'file' : 'other', ...facts };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return { ...at, kind: 'missing' };
    throw err;
  }
}

/**
 * Walks `target` from `/`, component by component, as the kernel resolves it: a symlink is recorded, then its
 * target's components are walked in its place. Everything after the first missing component is missing too.
 */
export async function probePath(target: string, shared?: Map<string, Promise<PathEntry>>): Promise<PathProbe> {
  const entries: PathEntry[] = [];
  const seen = new Map<string, PathEntry>();
  const resolved = path.resolve(target);
  const record = async (file: string, inDir: string) => {
    const known = seen.get(file);
    if (known) return known;
    // Only the target's contents matter (is it empty?): /tmp's are neither needed nor cheap.
    const e = file === resolved || !shared ? await probeEntry(file, inDir, file === resolved) : { ...(await sharedEntry(shared, file, inDir)) };
    seen.set(file, e);
    entries.push(e);
    return e;
  };
  let links = 0;
  let pending = path.resolve(target).split('/').filter(Boolean);
  let real = '/';
  await record('/', '');
  while (pending.length) {
    const name = pending.shift()!;
    const next = path.join(real, name);
    const e = await record(next, real);
    if (e.kind === 'symlink') {
      if (++links > MAX_LINKS) return { path: target, real: next, entries, error: `more than ${MAX_LINKS} symlinks resolving ${target} (a loop?)` };
      // The link's target replaces it: walked from / again (an absolute target) or from its directory.
      pending = [...e.target!.split('/').filter(Boolean), ...pending];
      real = '/';
      continue;
    }
    real = next;
    if (e.kind === 'missing') {
      for (const rest of pending) {
        const child = path.join(real, rest);
        entries.push({ path: child, in: real, kind: 'missing' });
        real = child;
      }
      break;
    }
  }
  const last = seen.get(real);
  // The target reached through a symlink: its contents were not read under the link's name.
  if (last?.kind === 'dir' && last.empty === undefined) last.empty = (await probeEntry(real, last.in)).empty!;
  return { path: target, real, entries };
}

/**
 * The parent directories of many probed paths (5,000 key files in one state directory) are read once per
 * `shared` map: one read of the live state, not a cache across reads.
 */
function sharedEntry(shared: Map<string, Promise<PathEntry>>, file: string, inDir: string): Promise<PathEntry> {
  let entry = shared.get(file);
  if (!entry) shared.set(file, (entry = probeEntry(file, inDir, false)));
  return entry;
}

/**
 * Tor's user from `GETINFO process/user` and `process/uid`, with its groups from /etc/passwd and /etc/group
 * (the files the C library reads for local users; a directory service's users are known by uid only).
 */
export async function readTorIdentity(name: string | undefined, uid: number, files = { passwd: '/etc/passwd', group: '/etc/group' }): Promise<TorIdentity> {
  const [passwd, group] = await Promise.all([readFile(files.passwd, 'utf8').catch(() => ''), readFile(files.group, 'utf8').catch(() => '')]);
  const user = passwd
    .split('\n')
    .map((l) => l.split(':'))
    .find((f) => f.length >= 4 && (name ? f[0] === name : Number(f[2]) === uid));
  const groupNames: Record<string, string> = {};
  const groups = new Set<number>();
  const gid = user ? Number(user[3]) : undefined;
  if (gid !== undefined) groups.add(gid);
  const userName = name || user?.[0];
  for (const line of group.split('\n')) {
    const f = line.split(':');
    if (f.length < 4) continue;
    groupNames[f[2]!] = f[0]!;
    if (userName && f[3]!.split(',').includes(userName)) groups.add(Number(f[2]));
  }
  return { ...(userName ? { name: userName } : {}), uid, ...(gid !== undefined ? { gid } : {}), groups: [...groups], groupNames };
}
