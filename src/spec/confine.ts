/**
 * Where a spec's file references may lead (issue #21). A spec reviewed in a pull request is written by
 * whoever opened it; `${file:/etc/shadow}`, `key: { file: ../../.ssh/id_ed25519 }` or a symlink committed
 * into the tree must not make `plan` (or `apply`) read anything outside the spec's own directory tree.
 *
 * A reference is followed as the kernel would follow it — every symlink of its existing part resolved, a
 * dangling symlink through its target — and must land inside one of the roots: the directories of the spec
 * files, and those the command line allows (`--allow-path DIR`). It is checked before anything opens it.
 */
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';

/** Linux gives up after 40 symlinks (ELOOP); so does this. */
const MAX_LINKS = 40;

export interface Confinement {
  /** Real paths of the directories references may lead into. */
  readonly roots: readonly string[];
}

/** The roots for specs in `specDirs` (absolute), plus the directories `allow` names (relative to the working directory). */
export function confinement(specDirs: readonly string[], allow: readonly string[] = []): Confinement {
  const roots = [...specDirs, ...allow.map((d) => path.resolve(d))].map((d) => realTarget(d) ?? d);
  return { roots: [...new Set(roots)] };
}

/**
 * Why `abs` may not be read, or undefined when it resolves inside a root. Stats and reads links only
 * (lstat, readlink, realpath): nothing is opened.
 */
export function outsideRoots(c: Confinement, abs: string): string | undefined {
  const real = realTarget(abs);
  if (real === undefined) return `${abs} cannot be resolved (a symlink loop)`;
  if (c.roots.some((root) => real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep))) return undefined;
  const where = real === abs ? abs : `${abs}, which resolves to ${real},`;
  return `${where} is outside the spec's directory tree (${c.roots.join(', ')}); a command line's --allow-path DIR allows more`;
}

/** The path `abs` (absolute, normalized) really names, whether or not it exists; undefined for a symlink loop. */
export function realTarget(abs: string, links = 0): string | undefined {
  if (links > MAX_LINKS) return undefined;
  try {
    return realpathSync.native(abs);
  } catch {
    // Not all of it exists (or a link in it dangles): resolve the parent, then look at the last name.
  }
  const parent = path.dirname(abs);
  if (parent === abs) return abs;
  const realParent = realTarget(parent, links + 1);
  if (realParent === undefined) return undefined;
  const joined = path.join(realParent, path.basename(abs));
  let link: string;
  try {
    if (!lstatSync(joined).isSymbolicLink()) return joined;
    link = readlinkSync(joined);
  } catch {
    // Nothing there yet: whatever creates it creates it here.
    return joined;
  }
  // A dangling symlink: creating "it" would create its target.
  return realTarget(path.resolve(realParent, link), links + 1);
}
