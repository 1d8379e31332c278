import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { TorError } from '../errors.js';
import { Secret } from '../secret.js';

export type SecretData = Buffer | string | Secret<Buffer> | Secret<string>;

export interface SecretFile {
  path: string;
  data: SecretData;
  /** Defaults to 0600. Applied exactly, whatever the umask. */
  mode?: number;
}

/** A secret file or directory could not be written or is unsafe to use. Names the path, never the content. */
export class SecretFileError extends TorError {
  override name = 'SecretFileError';
  constructor(
    readonly path: string,
    problem: string,
    options?: ErrorOptions,
  ) {
    super(`${path}: ${problem}`, options);
  }
}

/**
 * Replace `file` atomically: after a crash it holds either the old content or the new, never a mix or
 * nothing. A randomly named temporary file in the same directory is written and fsynced, renamed over
 * `file`, and the directory is fsynced so that the rename itself survives a power loss.
 */
export async function writeSecretFileAtomic(file: string, data: SecretData, mode = 0o600): Promise<void> {
  await writeSecretFilesAtomic([{ path: file, data, mode }]);
}

/**
 * Several files, each replaced atomically (the set is not: a failure between two renames leaves some new
 * and some old). The slow part, fsync, runs concurrently: all temporary files are written and fsynced
 * together, then renamed, then each distinct directory is fsynced once. Nothing is renamed unless every
 * temporary file was written, and temporary files are removed on failure.
 */
export async function writeSecretFilesAtomic(files: readonly SecretFile[]): Promise<void> {
  const targets = files.map((f) => path.resolve(f.path));
  const seen = new Set<string>();
  for (const t of targets) {
    if (seen.has(t)) throw new SecretFileError(t, 'listed twice in one atomic write');
    seen.add(t);
  }
  const temps = targets.map((t) => path.join(path.dirname(t), `.${path.basename(t)}.${randomBytes(6).toString('hex')}.tmp`));
  let stage = 'write';
  try {
    await Promise.all(files.map((f, i) => writeNewFile(temps[i]!, bytesOf(f.data), f.mode ?? 0o600)));
    stage = 'rename';
    await Promise.all(temps.map((tmp, i) => rename(tmp, targets[i]!)));
    stage = 'fsync the directory of';
    await Promise.all([...new Set(targets.map((t) => path.dirname(t)))].map(syncDirectory));
  } catch (err) {
    await Promise.all(temps.map((tmp) => unlink(tmp).catch(() => {})));
    const failed = (err as NodeJS.ErrnoException).path;
    const target = targets[temps.indexOf(failed ?? '')] ?? failed ?? targets[0] ?? '';
    throw new SecretFileError(target, `cannot ${stage}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Creates `file` with exactly `mode` (the umask aside) and `bytes`, fsynced unless `durable` is false. 'wx'
 * (O_EXCL) refuses to follow a symlink or reuse a file planted at the name.
 */
export async function writeNewFile(file: string, bytes: Buffer, mode: number, durable = true): Promise<void> {
  const handle = await open(file, 'wx', mode);
  try {
    // The mode given to open() is filtered by the umask; chmod sets it exactly.
    await handle.chmod(mode);
    await handle.writeFile(bytes);
    if (durable) await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync a directory: a file created or renamed in it survives a crash only once the directory is synced. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function bytesOf(data: SecretData): Buffer {
  const value = data instanceof Secret ? data.reveal() : data;
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

export interface SecretDirResult {
  /** The directory did not exist and was created. */
  created: boolean;
  /** Permission bits it had before we set 0700, when they were different. */
  previousMode?: number;
}

/**
 * Make `dir` a private directory: create it (and missing parents) with mode 0700, or, if it exists with
 * any other permissions, chmod it to exactly 0700 and report the old mode so the caller can say so. Tor
 * refuses a HiddenServiceDir that group or others can access (unless HiddenServiceDirGroupReadable), and
 * a directory holding onion keys must not be readable by anyone else anyway. Tightening rather than
 * refusing is deliberate: this is our own state directory. Refuses a path that is not a directory, or a
 * directory owned by another user (chmod would fail, and tor refuses those too).
 */
export async function ensureSecretDir(dir: string): Promise<SecretDirResult> {
  const abs = path.resolve(dir);
  let created: boolean;
  try {
    created = (await mkdir(abs, { recursive: true, mode: 0o700 })) !== undefined;
  } catch (err) {
    throw new SecretFileError(abs, `cannot create directory: ${(err as Error).message}`, { cause: err });
  }
  const st = await stat(abs);
  if (!st.isDirectory()) throw new SecretFileError(abs, 'exists but is not a directory');
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new SecretFileError(abs, `is owned by uid ${st.uid}, not by this process (uid ${uid})`);
  }
  const mode = st.mode & 0o777;
  if (mode !== 0o700) await chmod(abs, 0o700);
  return created || mode === 0o700 ? { created } : { created, previousMode: mode };
}
