/**
 * The key store: one file per key directory of the state directory (`<stateDirectory>/keys/keystore.json`,
 * 0600) holding every generated key, so that an apply generating 1,000 keys makes one durable write (temporary
 * file, fsync, rename, directory fsync) instead of 1,000 (issue #16: ~15 ms against ~400 ms on this disk).
 *
 * A key is named by its file path as before (`<stateDirectory>/keys/web.key`): the store holds it under the
 * file's base name, and an entry there is the key of that path, whatever a file of that name holds. Key files
 * outside the store (a spec's own `key.file`, keys generated before the store existed) are read as files.
 * Entries are the exact bytes a key file would hold (`ED25519-V3:<base64>\n`), so the digests recorded in the
 * state file stay valid when a key moves from its file into the store.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { KeyFileError, SecretFileError, writeSecretFileAtomic } from '../tor/onion/index.js';
import { Secret } from '../tor/secret.js';

export const KEY_STORE_FILE = 'keystore.json';

interface KeyStoreFile {
  format_version: 1;
  /** Base name of the key's path → `ED25519-V3:<base64>`. */
  keys: Record<string, string>;
}

/**
 * The key store a new key named `file` is written to: its directory's, when that directory is inside the
 * state directory; undefined for a key file elsewhere (a spec's own `key.file`), which stays a file of its own.
 */
export function keyStoreFor(file: string, stateDirectory: string): string | undefined {
  // The answer for the last directory asked about: a plan asks once per key (5,000 keys, one directory), and
  // path.resolve and path.relative cost ~25 µs a key. Absolute paths only, which do not depend on the cwd.
  const parent = path.dirname(file);
  if (lastStore && lastStore.parent === parent && lastStore.state === stateDirectory) return lastStore.store;
  const dir = path.dirname(path.resolve(file));
  const rel = path.relative(path.resolve(stateDirectory), dir);
  const inside = rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
  const store = inside ? path.join(dir, KEY_STORE_FILE) : undefined;
  if (path.isAbsolute(file) && path.isAbsolute(stateDirectory)) lastStore = { parent, state: stateDirectory, store };
  return store;
}

let lastStore: { parent: string; state: string; store: string | undefined } | undefined;

/** Base name → the key's bytes, as its key file would hold them. */
export type KeyStore = ReadonlyMap<string, Buffer>;

const EMPTY: KeyStore = new Map();

/**
 * The last store read or written per file, with its stamp (fileStamp): callers that load keys one by one
 * (status, check, watch, `apply --wait-published`) and every re-plan parse the store once, then only stat it.
 */
const cache = new Map<string, { stamp: string; keys: KeyStore }>();

/** The store of the directory `dir`; empty when there is none. An unreadable or malformed store is an error, never "no keys". */
export async function readKeyStore(dir: string): Promise<KeyStore> {
  const file = path.join(dir, KEY_STORE_FILE);
  const stamp = await stampOf(file);
  if (stamp === undefined) {
    cache.delete(file);
    return EMPTY;
  }
  const cached = cache.get(file);
  if (cached?.stamp === stamp) return cached.keys;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new KeyFileError(file, `cannot be read: ${(err as Error).message}`, { cause: err });
  }
  const keys = parseStore(text, file);
  cache.set(file, { stamp, keys });
  return keys;
}

function parseStore(text: string, file: string): KeyStore {
  // Never "no keys" for a store that does not parse: a generated key would replace an address in use.
  const broken = (why: string) => new KeyFileError(file, `is not a tor-reconcile key store (${why}); it may hold the only copy of onion service keys, so it is neither used nor replaced`);
  let parsed: KeyStoreFile;
  try {
    parsed = JSON.parse(text) as KeyStoreFile;
  } catch (err) {
    throw broken((err as Error).message);
  }
  if (typeof parsed?.format_version === 'number' && parsed.format_version > 1) throw broken(`format ${parsed.format_version}, written by a newer tor-reconcile`);
  if (parsed?.format_version !== 1 || typeof parsed.keys !== 'object' || parsed.keys === null || Array.isArray(parsed.keys)) throw broken('unknown format');
  const keys = new Map<string, Buffer>();
  for (const [name, blob] of Object.entries(parsed.keys)) {
    if (typeof blob !== 'string' || !blob.startsWith('ED25519-V3:') || name.includes('/') || name === '' || name === '.' || name === '..') throw broken(`entry ${JSON.stringify(name.slice(0, 80))} is malformed`);
    keys.set(name, Buffer.from(`${blob}\n`, 'latin1'));
  }
  return keys;
}

/**
 * Adds keys to the store of `dir` in one atomic, durable write (0600): after a crash the store holds all of
 * them or none. Refuses, before writing anything, to replace an entry unless `replace`: a key that appeared
 * since the plan may hold an address in use. The caller holds the state directory's lock.
 */
export async function addToKeyStore(dir: string, entries: ReadonlyMap<string, Buffer>, options: { replace: boolean }): Promise<void> {
  const file = path.join(dir, KEY_STORE_FILE);
  const current = await readKeyStore(dir);
  if (!options.replace) {
    for (const name of entries.keys()) {
      if (current.has(name)) throw new SecretFileError(path.join(dir, name), 'key appeared meanwhile in the key store; refusing to replace it');
    }
  }
  const merged = new Map([...current, ...entries]);
  const body: KeyStoreFile = { format_version: 1, keys: {} };
  for (const name of [...merged.keys()].sort()) body.keys[name] = merged.get(name)!.toString('latin1').trimEnd();
  await writeSecretFileAtomic(file, new Secret(JSON.stringify(body, null, 1) + '\n'));
  const stamp = await stampOf(file);
  if (stamp !== undefined) cache.set(file, { stamp, keys: merged });
}

async function stampOf(file: string): Promise<string | undefined> {
  try {
    return await fileStamp(file);
  } catch (err) {
    throw new KeyFileError(file, `cannot be read: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A file's inode, size and change times (undefined when it does not exist): the same stamp means the same
 * content, so a file parsed once need not be read again (the key store here, the state file in local.ts).
 */
export async function fileStamp(file: string): Promise<string | undefined> {
  try {
    const st = await stat(file, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}
