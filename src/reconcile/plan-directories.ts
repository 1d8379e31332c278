/**
 * The directories of a filesystem service, planned against tor's real access (issue #20): every missing
 * parent is created so that tor's user can traverse it and no wider, the service directory is created or
 * handed to tor's user and group only when that is ours to do (missing, empty, or `adopt: true`), and a path
 * others could swap (a symlink or directory in a directory they can write) stops the plan. Also the
 * secrets-on-disk checks: key files others can read, a state directory others could change. Pure: the facts
 * come from live.ts (fs-probe.ts), the effects are steps (fs-effects.ts runs them).
 */
import path from 'node:path';
import type { FilesystemService } from '../spec/model.js';
import { judgePath, octal, ownerLabel, type AccessContext } from './fs-access.js';
import { ownerFor, type Builder, type PlanContext } from './plan-common.js';
import { step } from './steps.js';
import type { FileFacts, LiveServiceFiles, LiveState, Owner, OwnerNames, PathEntry, PathProbe, Step } from './types.js';

/** Service directories and their authorized_clients: private to tor's user. */
export const DIR_MODE = 0o700;

export interface ServiceDirectories {
  steps: Step[];
  /** The directory's real path (symlinks resolved): where its files are written. */
  real: string;
  owner?: Owner;
  names?: OwnerNames;
}

/**
 * Steps that make `s.directory` (and, with `authDir`, its authorized_clients) a directory tor's user owns
 * and can reach; null when the plan must stop (the errors say why).
 */
export function planServiceDirectories(
  s: FilesystemService,
  files: LiveServiceFiles,
  live: LiveState,
  ctx: PlanContext,
  b: Builder,
  item: string,
  authDir: boolean,
  /** Files the plan writes or removes, relative to the directory: what they hold now does not matter. */
  replaced: ReadonlySet<string> = new Set(),
  /** The spec's state directory: apply makes it 0700, ours alone, when it locks it. */
  stateDirectory?: string,
): ServiceDirectories | null {
  const owner = ownerFor(live, ctx, b, item);
  if (owner === null) return null;
  const access: AccessContext = { ...(live.torUser ? { tor: live.torUser } : {}), ...(ctx.uid !== undefined ? { uid: ctx.uid } : {}) };
  const probe = files.probe ?? knownOnly(s.directory, files, live);
  const verdict = judgePath(probe, access);
  const fail = (message: string) => b.errors.push({ item, message: `service "${s.name}": ${message}`, source: s.source });
  verdict.problems.forEach(fail);
  if (verdict.problems.length) return null;
  // A missing state directory is made private to us (0700) by apply's lock, before any step: tor's user could not traverse it.
  const privateParent = stateDirectory !== undefined && owner ? verdict.missing.find((d) => d === stateDirectory && d !== probe.real) : undefined;
  if (privateParent) {
    fail(`${s.directory} is inside the state directory ${privateParent}, which tor-reconcile keeps private (0700, its own user): tor's user ${live.torUser?.name ?? `uid ${live.torUid}`} could not reach it. Choose a directory outside it (for example under tor's DataDirectory)`);
    return null;
  }
  const names = ownerNames(owner, live);
  const withOwner = owner ? { owner, ...(names ? { names } : {}) } : {};
  const steps: Step[] = [];
  const real = probe.real;
  const torUid = live.torUid ?? ctx.uid;

  // Parents: tor must traverse them; as root for a tor of its own group, 0750 root:tor's group, else 0700 ours.
  const parentOwner: Owner | undefined = owner && owner.gid >= 0 ? { uid: -1, gid: owner.gid } : undefined;
  const parentMode = owner ? (parentOwner ? 0o750 : 0o755) : DIR_MODE;
  for (const dir of verdict.missing.filter((d) => d !== real)) {
    const note =
      dir === stateDirectory ? 'the state directory: kept if apply made it first' : owner ? (parentOwner ? `a parent: tor's group may traverse it, others may not` : `a parent tor must traverse`) : 'a parent';
    steps.push(step('mkdir', { path: dir, mode: parentMode, ...(parentOwner ? { owner: parentOwner, ...(names?.group ? { names: { group: names.group } } : {}) } : {}), note, parent: true }, [item]));
  }

  const target = verdict.target;
  const takeOver = (e: PathEntry, what: string): boolean => {
    const facts: FileFacts = { uid: e.uid ?? 0, gid: e.gid ?? 0, mode: (e.mode ?? 0) & 0o7777 };
    const torOwns = facts.uid === torUid;
    if (torOwns) {
      if (tooOpen(facts.mode, s)) steps.push(step('chmod', { path: e.path, mode: DIR_MODE, from: facts, note: `tor refuses a ${what} others can read` }, [item]));
      return true;
    }
    if (!e.empty && !s.adopt) {
      fail(
        `${e.path} exists, is not empty and belongs to ${ownerLabel(e, access)} (mode ${octal(facts.mode)}), not to tor's user ${live.torUser?.name ?? `uid ${torUid}`}: tor-reconcile does not take over a directory it did not create. Declare adopt: true on the service to hand it to tor's user (chown and chmod ${octal(DIR_MODE)}, shown in the plan), or choose another directory`,
      );
      return false;
    }
    // Ours to hand over: it is empty, or the spec says adopt. Root may give it to tor's user (or, for a tor running as root, to root).
    const to = owner ?? (ctx.uid === 0 ? { uid: 0, gid: 0 } : undefined);
    if (!to) {
      fail(`${e.path} belongs to ${ownerLabel(e, access)} and tor runs as uid ${torUid}: only root can give it to tor's user; run tor-reconcile as root, or choose another directory`);
      return false;
    }
    const why = e.empty ? 'empty, given to tor' : 'adopt: true';
    if (facts.mode !== DIR_MODE) steps.push(step('chmod', { path: e.path, mode: DIR_MODE, from: facts, note: `${why}; private to tor's user` }, [item]));
    steps.push(step('chown', { path: e.path, owner: to, ...(names ? { names } : {}), from: { ...facts, mode: DIR_MODE }, note: why }, [item]));
    return true;
  };

  if (!target || target.kind === 'missing') steps.push(step('mkdir', { path: real, mode: DIR_MODE, ...withOwner }, [item]));
  else if (target.kind !== 'dir') return (fail(`${real} exists and is not a directory; a service directory is needed there`), null);
  else if (!takeOver(target, 'service directory')) return null;

  if (authDir) {
    const auth = path.join(real, 'authorized_clients');
    const found = files.authDir;
    if (!found || found.kind === 'missing') steps.push(step('mkdir', { path: auth, mode: DIR_MODE, ...withOwner }, [item]));
    else if (found.kind !== 'dir') return (fail(`${auth} exists and is not a directory`), null);
    else if (!takeOver(found, 'authorized_clients directory')) return null;
  }

  // Key files and client files tor reads and we leave as they are: tor's own, or handed over with adopt: true.
  const to = owner ?? (ctx.uid === 0 ? { uid: 0, gid: 0 } : undefined);
  for (const f of files.torFiles ?? []) {
    if (replaced.has(path.relative(real, f.path))) continue;
    if (f.kind === 'symlink') return (fail(`${f.path} is a symlink (to ${f.target}): tor would read whatever it points to. Replace it with the file itself`), null);
    if (f.uid === torUid) continue;
    if (!s.adopt || !to) {
      fail(
        `${f.path} belongs to ${ownerLabel(f, access)} (mode ${octal(f.mode ?? 0)}), not to tor's user ${live.torUser?.name ?? `uid ${torUid}`}: tor may not be able to read it, and tor-reconcile does not take over files it did not write. ${to ? 'Declare adopt: true on the service to hand it to tor\'s user (a chown step)' : 'Run tor-reconcile as root with adopt: true on the service'}, or remove it`,
      );
      return null;
    }
    steps.push(step('chown', { path: f.path, owner: to, ...(names ? { names } : {}), from: { uid: f.uid ?? 0, gid: f.gid ?? 0, mode: (f.mode ?? 0) & 0o7777 }, note: 'adopt: true' }, [item]));
  }
  return { steps, real, ...withOwner };
}

/** Tor wants a service directory private to its user (group-readable only with HiddenServiceDirGroupReadable). */
export function tooOpen(mode: number | undefined, s: FilesystemService): boolean {
  if (mode === undefined) return false;
  const groupReadable = s.options.some(([k, v]) => k === 'HiddenServiceDirGroupReadable' && v === '1');
  return (mode & (groupReadable ? 0o027 : 0o077)) !== 0;
}

/**
 * Key files and the state directory, which hold secrets: a key file others can read gets a warning (as ssh
 * does for a private key), a state directory that is not ours or that others can write stops the plan.
 */
export function planLocalFiles(live: LiveState, ctx: PlanContext, b: Builder): void {
  const local = live.localFiles;
  if (!local) return;
  const access: AccessContext = { ...(live.torUser ? { tor: live.torUser } : {}), ...(ctx.uid !== undefined ? { uid: ctx.uid } : {}), ours: true };
  const sdProbe = local.stateDirectory;
  const sdVerdict = judgePath(sdProbe, access);
  for (const problem of sdVerdict.problems) b.errors.push({ item: 'stateDirectory', message: `the state directory: ${problem}` });
  const sd = sdVerdict.target;
  if (sd && sd.kind !== 'missing' && sd.kind !== 'dir') {
    b.errors.push({ item: 'stateDirectory', message: `the state directory ${sdProbe.path} exists and is not a directory; give a directory` });
  } else if (sd?.kind === 'dir' && ctx.uid !== undefined && sd.uid !== ctx.uid) {
    b.errors.push({ item: 'stateDirectory', message: `the state directory ${sd.path} belongs to uid ${sd.uid}, not to the user running tor-reconcile (uid ${ctx.uid}): its keys and records must be ours alone. chown it, or choose another stateDirectory` });
  } else if (sd?.kind === 'dir' && (sd.mode ?? 0) & 0o022) {
    b.errors.push({ item: 'stateDirectory', message: `the state directory ${sd.path} is writable by others (mode ${octal(sd.mode ?? 0)}): they could replace its keys and records. chmod 700 ${sd.path}` });
  }
  for (const [file, keyProbe] of local.keyFiles) {
    const verdict = judgePath(keyProbe, access);
    for (const problem of verdict.problems) b.errors.push({ item: 'key-file', message: `key file ${file}: ${problem}` });
    const e = verdict.target;
    if (e?.kind === 'file' && (e.mode ?? 0) & 0o077) {
      b.warnings.push({ item: 'key-file', message: `key file ${file} is accessible to group or others (mode ${octal(e.mode ?? 0)}): anyone who reads it can impersonate the service. chmod 600 ${file}` });
    }
  }
}

/** A plan built in code knows only the directory itself: treated as tor's own, its parents as fine. */
function knownOnly(dir: string, files: LiveServiceFiles, live: LiveState): PathProbe {
  const target: PathEntry = files.exists
    ? { path: dir, in: path.dirname(dir), kind: 'dir', uid: live.torUid ?? 0, gid: 0, mode: files.mode ?? DIR_MODE, empty: false }
    : { path: dir, in: path.dirname(dir), kind: files.notDirectory ? 'file' : 'missing' };
  return { path: dir, real: dir, entries: [target] };
}

function ownerNames(owner: Owner | undefined, live: LiveState): OwnerNames | undefined {
  const tor = live.torUser;
  if (!owner || !tor) return undefined;
  const group = owner.gid >= 0 ? tor.groupNames?.[String(owner.gid)] : undefined;
  return { ...(tor.name ? { user: tor.name } : {}), ...(group ? { group } : {}) };
}
