/**
 * Where a spec's file references may lead (issue #21). A spec reviewed in a pull request is written by
 * whoever opened it; `${file:/etc/shadow}`, `key: { file: ../../.ssh/id_ed25519 }` or a symlink committed
 * into the tree must not make `plan` (or `apply`) read anything outside the spec's own directory tree.
 *
 * A reference is followed as the kernel would follow it — every symlink of its existing part resolved, a
 * dangling symlink through its target — and must land inside one of the roots: the directories of the spec
 * files, and those the command line allows (`--allow-path DIR`). It is checked before anything opens it.
 */
import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';

/** Linux gives up after 40 symlinks (ELOOP); so does this. */
const MAX_LINKS = 40;

export interface Confinement {
  /** Real paths of the directories references may lead into. */
  readonly roots: readonly string[];
  /**
   * Real paths already resolved during this load, by absolute path. A spec names thousands of files in the
   * same few directories (keys/<name>.key); without it every reference re-resolved its whole parent chain,
   * ~750 ms of a 5,000-service load. A Confinement lives for one load, so the tree it caches cannot go stale
   * in a way a fresh lstat at that moment would not also race with.
   */
  readonly resolved: Map<string, string>;
  /** Real paths found not to exist during this load: nothing inside them needs a look either. */
  readonly missing: Set<string>;
}

/** The roots for specs in `specDirs` (absolute), plus the directories `allow` names (relative to the working directory). */
export function confinement(specDirs: readonly string[], allow: readonly string[] = []): Confinement {
  const c: Confinement = { roots: [], resolved: new Map(), missing: new Set() };
  const roots = [...specDirs, ...allow.map((d) => path.resolve(d))].map((d) => resolve(c, d) ?? d);
  return { ...c, roots: [...new Set(roots)] };
}

/**
 * Why `abs` may not be read, or undefined when it resolves inside a root. Stats and reads links only
 * (lstat, readlink): nothing is opened.
 */
export function outsideRoots(c: Confinement, abs: string): string | undefined {
  const real = resolve(c, abs);
  if (real === undefined) return `${abs} cannot be resolved (a symlink loop)`;
  if (c.roots.some((root) => real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep))) return undefined;
  const where = real === abs ? abs : `${abs}, which resolves to ${real},`;
  return `${where} is outside the spec's directory tree (${c.roots.join(', ')}); a command line's --allow-path DIR allows more`;
}

/** The path `abs` (absolute, normalized) really names, whether or not it exists; undefined for a symlink loop. */
export function realTarget(abs: string): string | undefined {
  return resolve({ roots: [], resolved: new Map(), missing: new Set() }, abs);
}

/**
 * Resolves as the kernel walks a path: name by name from the root, each symlink replaced by its target (read
 * relative to the directory holding it, `..` taken from the real directory, not lexically). A name that does
 * not exist yet stays as it is: whatever creates it creates it there — and a dangling symlink resolves
 * through its target, since creating "it" would create the target.
 */
function resolve(c: Confinement, abs: string): string | undefined {
  const hit = c.resolved.get(abs);
  if (hit !== undefined) return hit;
  const parent = path.dirname(abs);
  if (parent === abs) return abs;
  const realParent = resolve(c, parent);
  const real = realParent === undefined ? undefined : step(c, realParent, path.basename(abs), { links: 0 });
  if (real !== undefined) c.resolved.set(abs, real);
  return real;
}

/** `name` inside the real directory `dir`, its symlinks followed; undefined past MAX_LINKS. */
function step(c: Confinement, dir: string, name: string, walk: { links: number }): string | undefined {
  const joined = path.join(dir, name);
  const hit = c.resolved.get(joined);
  if (hit !== undefined) return hit;
  // The 5,000 key files of a new state directory are all inside one keys/ that does not exist yet.
  if (c.missing.has(dir)) {
    c.missing.add(joined);
    return joined;
  }
  let stats: Stats | undefined;
  let link: string;
  try {
    stats = lstatSync(joined, { throwIfNoEntry: false });
    if (!stats) c.missing.add(joined);
    if (!stats?.isSymbolicLink()) return joined;
    link = readlinkSync(joined);
  } catch {
    // Not a directory on the way, or not ours to look into: nothing to follow, as for a missing name.
    return joined;
  }
  if (++walk.links > MAX_LINKS) return undefined;
  let at = path.isAbsolute(link) ? path.parse(dir).root : dir;
  for (const part of link.split(path.sep)) {
    if (part === '' || part === '.') continue;
    const next = part === '..' ? path.dirname(at) : step(c, at, part, walk);
    if (next === undefined) return undefined;
    at = next;
  }
  c.resolved.set(joined, at);
  return at;
}
