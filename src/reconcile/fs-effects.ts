/**
 * The filesystem steps' effects, each re-checking at apply time what the plan saw: a directory is created
 * exclusively (never one that appeared since), an existing one is changed through a handle opened with
 * O_NOFOLLOW after its owner and mode are compared with the plan's, files are created O_EXCL|O_NOFOLLOW and
 * renamed into place, and no step follows a symlink that appeared above its path since the plan (realpath
 * of the parent must be the parent itself: plans act on real paths).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, realpath, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { syncDirectory } from '../tor/onion/persist.js';
import type { MaybeSecret } from '../tor/secret.js';
import { isSecret } from '../tor/secret.js';
import type { FileFacts, Owner } from './types.js';

/** A filesystem step found something other than what the plan saw: refused rather than followed. */
export class ChangedSincePlanError extends Error {
  override name = 'ChangedSincePlanError';
}

const NOFOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** The parent of `file` is reached through no symlink (plans give real paths, so one there is new). */
async function assertRealParent(file: string): Promise<void> {
  const dir = path.dirname(file);
  const real = await realpath(dir).catch((err: NodeJS.ErrnoException) => {
    throw new ChangedSincePlanError(`${dir} cannot be resolved (${err.code ?? err.message}): it changed since the plan; run plan again`);
  });
  if (real !== dir) throw new ChangedSincePlanError(`${dir} now leads to ${real} through a symlink that was not there when the plan was made; refusing to follow it`);
}

async function openNoFollow(file: string): Promise<FileHandle> {
  try {
    return await open(file, NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new ChangedSincePlanError(`${file} is now a symlink; it was not when the plan was made: refusing to follow it`);
    if (code === 'ENOENT') throw new ChangedSincePlanError(`${file} is gone since the plan was made; run plan again`);
    throw err;
  }
}

async function own(handle: FileHandle, owner: Owner | undefined): Promise<void> {
  if (owner) await handle.chown(owner.uid, owner.gid);
}

/**
 * mkdir(2) of exactly `dir` (never its parents: those are steps of their own), then mode and owner. An
 * existing `dir` is refused, except a `parent` that is a real directory of ours others cannot write: left as it is.
 */
export async function makeDirectory(dir: string, mode: number, owner?: Owner, parent = false): Promise<void> {
  await assertRealParent(dir);
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const st = parent ? await lstat(dir) : undefined;
    if (st?.isDirectory() && st.uid === process.getuid?.() && !(st.mode & 0o022)) return;
    throw new ChangedSincePlanError(`${dir} appeared since the plan was made; tor-reconcile does not take over a directory it did not create: run plan again`);
  }
  const handle = await openNoFollow(dir);
  try {
    // The mode given to mkdir is filtered by the umask; fchmod sets it exactly. Owner first: a chown clears setgid.
    await own(handle, owner);
    await handle.chmod(mode);
  } finally {
    await handle.close();
  }
}

/** Changes an existing file's mode and/or owner, only if it is still what the plan saw (`from`). */
export async function changeExisting(file: string, from: FileFacts, change: { mode?: number; owner?: Owner }): Promise<void> {
  await assertRealParent(file);
  const handle = await openNoFollow(file);
  try {
    const st = await handle.stat();
    const now = { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 };
    if (now.uid !== from.uid || now.gid !== from.gid || now.mode !== from.mode) {
      throw new ChangedSincePlanError(`${file} changed since the plan was made (then ${describe(from)}, now ${describe(now)}); run plan again`);
    }
    await own(handle, change.owner);
    if (change.mode !== undefined) await handle.chmod(change.mode);
  } finally {
    await handle.close();
  }
}

const describe = (f: FileFacts) => `${f.uid}:${f.gid} mode 0${f.mode.toString(8)}`;

/**
 * Replaces `file` atomically with `content`: a new temporary file (O_CREAT|O_EXCL|O_NOFOLLOW: never a file or
 * link planted at its name) is given its owner and mode through its handle, written, synced and renamed over
 * `file` (rename replaces a symlink there, never follows it).
 */
export async function writeFileExclusive(file: string, content: MaybeSecret, mode: number, owner?: Owner): Promise<void> {
  await assertRealParent(file);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    try {
      await own(handle, owner);
      await handle.chmod(mode);
      await handle.writeFile(Buffer.from(String(isSecret(content) ? content.reveal() : content), 'utf8'));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await syncDirectory(path.dirname(file));
}

/** Removes a file or a symlink itself (unlink never follows one), never a directory; one already gone is fine. */
export async function removeFile(file: string): Promise<void> {
  await assertRealParent(file);
  const st = await lstat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!st) return;
  if (st.isDirectory()) throw new ChangedSincePlanError(`${file} is now a directory; refusing to remove it`);
  await unlink(file);
}
