/**
 * Pure judgement of a walked path (fs-probe.ts) for a directory tor must own: can tor's user reach it, is any
 * component in a place others could swap it (a symlink or directory in a directory others can write: the
 * classic /tmp attack), and which missing components must be created. No I/O: plan-filesystem.ts turns the
 * verdict into errors and steps.
 */
import type { PathEntry, PathProbe, TorIdentity } from './types.js';

export interface AccessContext {
  tor?: TorIdentity;
  /** tor-reconcile's uid. */
  uid?: number;
  /**
   * A path only tor-reconcile uses (its state directory, a key file): only a symlink others could swap is
   * refused, and tor's access is not checked.
   */
  ours?: boolean;
}

export interface PathVerdict {
  /** Why the path cannot be used; empty when it can. */
  problems: string[];
  /** Components to create, top down (the last is the target when it is missing). */
  missing: string[];
  /** The target as found (its final component, symlinks followed). */
  target?: PathEntry;
}

export const octal = (mode: number) => `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;

/** `root:root (0, 0)`-style owner for messages. */
export function ownerLabel(e: { uid?: number; gid?: number }, ctx: AccessContext): string {
  const user = e.uid === ctx.tor?.uid && ctx.tor?.name ? ctx.tor.name : e.uid === 0 ? 'root' : `uid ${e.uid}`;
  const group = e.gid !== undefined && ctx.tor?.groupNames?.[String(e.gid)] ? ctx.tor.groupNames[String(e.gid)] : `gid ${e.gid}`;
  return `${user}:${group}`;
}

/** Owners whose directories cannot be changed under us: root, us, and tor itself (which we trust anyway). */
function trustedUid(uid: number | undefined, ctx: AccessContext): boolean {
  return uid === 0 || uid === ctx.uid || (ctx.tor !== undefined && uid === ctx.tor.uid);
}

/** Someone other than root, us or tor can create, rename or remove entries in `dir`: who, for messages; undefined when no one. */
function writableByOthers(dir: PathEntry, ctx: AccessContext): string | undefined {
  const mode = dir.mode ?? 0;
  const what = `${ownerLabel(dir, ctx)}, mode ${octal(mode)}`;
  if (!trustedUid(dir.uid, ctx)) return `which its owner, neither root nor tor's user, can write (${what})`;
  if (mode & 0o002) return `which others can write (${what}${mode & 0o1000 ? '' : ', no sticky bit'})`;
  const trustedGroup = dir.gid === 0 || (ctx.tor?.gid !== undefined && dir.gid === ctx.tor.gid);
  return mode & 0o020 && !trustedGroup ? `which its group can write (${what}${mode & 0o1000 ? '' : ', no sticky bit'})` : undefined;
}

/** Tor's user may search (traverse) `dir`: the owner, group or other execute bit that applies to it. */
export function torCanTraverse(dir: PathEntry, tor: TorIdentity): boolean {
  if (tor.uid === 0) return true;
  const mode = dir.mode ?? 0;
  if (dir.uid === tor.uid) return Boolean(mode & 0o100);
  if (dir.gid !== undefined && tor.groups.includes(dir.gid)) return Boolean(mode & 0o010);
  return Boolean(mode & 0o001);
}

export function judgePath(probe: PathProbe, ctx: AccessContext): PathVerdict {
  const problems: string[] = [];
  const missing: string[] = [];
  if (probe.error) return { problems: [probe.error], missing };
  const byPath = new Map(probe.entries.map((e) => [e.path, e]));
  const target = byPath.get(probe.real);
  for (const e of probe.entries) {
    const parent = byPath.get(e.in);
    if (e.kind === 'missing') {
      missing.push(e.path);
      // We create it; a sticky directory (/tmp) keeps others from renaming what we created.
      const who = parent?.kind === 'dir' && !ctx.ours ? writableByOthers(parent, ctx) : undefined;
      if (who && !((parent!.mode ?? 0) & 0o1000)) problems.push(`${e.path} would be created in ${parent!.path}, ${who}: they could replace it before tor uses it`);
      continue;
    }
    if (!parent) continue;
    const sticky = Boolean((parent.mode ?? 0) & 0o1000);
    // In a sticky directory only an entry's owner (or root) may rename it: safe when that owner is trusted.
    const who = writableByOthers(parent, ctx);
    const swappable = who && !(sticky && trustedUid(e.uid, ctx));
    if (swappable && e.kind === 'symlink') {
      problems.push(`${e.path} is a symlink (to ${e.target}) in ${parent.path}, ${who}: whoever can write there decides where it points. Give the real path, in a directory only root or tor's user can write`);
    } else if (swappable && !ctx.ours) {
      problems.push(`${e.path} is in ${parent.path}, ${who}${sticky ? `, and belongs to ${ownerLabel(e, ctx)}` : ''}: whoever can write there can replace it. Choose a path whose directories only root or tor's user can write`);
    }
    if (e !== target && e.kind !== 'symlink' && e.kind !== 'dir') problems.push(`${e.path} is not a directory`);
    if (e !== target && e.kind === 'dir' && ctx.tor && !ctx.ours && !torCanTraverse(e, ctx.tor)) {
      problems.push(
        `tor runs as ${ctx.tor.name ?? `uid ${ctx.tor.uid}`} and cannot traverse ${e.path} (${ownerLabel(e, ctx)}, mode ${octal(e.mode ?? 0)}): it would answer "Permission denied". Choose a directory tor's user can reach; tor-reconcile does not change directories it did not create`,
      );
    }
  }
  return { problems, missing, ...(target ? { target } : {}) };
}
