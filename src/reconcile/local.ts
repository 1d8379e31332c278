/**
 * What tor-reconcile keeps on its own disk: ephemeral service keys and the record of what it created.
 * Tor can list detached onion services but not their ports or clients, so the record is the only way to
 * know whether a running service still matches the spec. Generated keys live in the key store
 * (keystore.ts); a key's path names it either way, and every read here goes through the store first.
 * Longer than ~400 lines because keys, records and the lock are the one state directory's three concerns,
 * each short; the key store's file format is kept apart in keystore.ts.
 */
import { hash, randomBytes } from 'node:crypto';
import { link, mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyFileError, OnionKeyError, OnionServiceKey, parseSecretKeyFile, SecretFileError, writeSecretFileAtomic, writeSecretFilesAtomic, ensureSecretDir } from '../tor/onion/index.js';
import { processAlive } from '../tor/launch.js';
import { syncDirectory, writeNewFile } from '../tor/onion/persist.js';
import { Secret } from '../tor/secret.js';
import { StateFileError, StateLockedError } from './errors.js';
import { addToKeyStore, fileStamp, KEY_STORE_FILE, keyStoreFor, readKeyStore, type KeyStore } from './keystore.js';
import type { EphemeralRecord, LocalKey } from './types.js';

const STATE_FILE = 'state.json';
const LOCK_FILE = '.lock';

/**
 * The last key read or written here for each file, with the SHA-256 of its bytes: deriving an address from
 * an expanded key is a curve multiplication (~0.3 ms), which 1,000 services would otherwise pay on every
 * read. One entry per path, so a long watch does not keep every key a file ever held.
 */
const known = new Map<string, { digest: string; key?: OnionServiceKey }>();

function sha256(bytes: Uint8Array): string {
  // One-shot crypto.hash() (node ≥ 20.12) costs a third of createHash() for a 100-byte key: 5,000 keys per plan.
  return hash('sha256', bytes, 'hex');
}

/**
 * An ephemeral service key file: `ED25519-V3:<base64>` (what ADD_ONION takes, and what we write), or
 * tor's own 96-byte `hs_ed25519_secret_key`, so a filesystem service's key can be used directly.
 */
export async function loadKeyFile(file: string): Promise<OnionServiceKey> {
  return keyFromBytes(file, await readKeyBytes(file));
}

/** The bytes of the key named by `file`: its entry in the key store of its directory, else the file. */
async function readKeyBytes(file: string): Promise<Buffer> {
  return storeEntry(await readKeyStore(path.dirname(file)), file) ?? readFile(file);
}

function storeEntry(store: KeyStore, file: string): Buffer | undefined {
  return store.size === 0 ? undefined : store.get(path.basename(file));
}

function keyFromBytes(file: string, bytes: Buffer): OnionServiceKey {
  const digest = sha256(bytes);
  const seen = known.get(file);
  if (seen?.key && seen.digest === digest) return seen.key;
  const key = parseKeyBytes(bytes, file);
  known.set(file, { digest, key });
  return key;
}

function parseKeyBytes(bytes: Buffer, file: string): OnionServiceKey {
  if (bytes.subarray(0, 11).toString('latin1') === 'ED25519-V3:') {
    try {
      return OnionServiceKey.fromAddOnionBlob(bytes.toString('latin1'));
    } catch (err) {
      if (err instanceof OnionKeyError) throw new KeyFileError(file, err.message, { cause: err });
      throw err;
    }
  }
  return parseSecretKeyFile(bytes, file);
}

/** The SHA-256 of a key file's bytes, as loaded or written by this process (read again if not). */
export async function keyFileDigest(file: string): Promise<string> {
  return known.get(file)?.digest ?? sha256(await readKeyBytes(file));
}

/**
 * The address a key file gives. A file whose exact bytes tor already served (the record's digest, written
 * after tor answered ADD_ONION with the address) is not parsed again: tor's answer is the proof.
 */
export async function probeKeyFile(file: string, record?: EphemeralRecord): Promise<LocalKey> {
  try {
    return probeBytes(file, await readKeyBytes(file), record);
  } catch (err) {
    return probeError(file, err);
  }
}

/** What probeKeyFiles() found: each key's probe, and the file that holds its bytes (for the plan's mode checks). */
export interface ProbedKeys {
  keys: LocalKey[];
  /** The directory's key store for a key the store holds, else the key's own path. */
  holders: string[];
}

/**
 * probeKeyFile() for many keys, as a plan reads them: each directory's key store is read once, and is listed
 * once (one readdir rather than a failed open per key not yet generated); only keys outside a store are read
 * as files.
 */
export async function probeKeyFiles(keys: ReadonlyArray<{ file: string; record?: EphemeralRecord | undefined }>): Promise<ProbedKeys> {
  const dirs = [...new Set(keys.map((k) => path.dirname(k.file)))];
  const stores = new Map(await Promise.all(dirs.map(async (dir) => [dir, await readKeyStore(dir).catch((err: unknown) => err as Error)] as const)));
  // Names in each directory; undefined when it cannot be listed (then every file is simply tried).
  const listings = new Map(await Promise.all(dirs.map(async (dir) => [dir, await listNames(dir)] as const)));
  // One string per store, shared by its keys: callers collect the holders in a Set (5,000 joins and hashes otherwise).
  const storeFiles = new Map(dirs.map((dir) => [dir, path.join(dir, KEY_STORE_FILE)]));
  const out: LocalKey[] = new Array<LocalKey>(keys.length);
  const holders: string[] = new Array<string>(keys.length);
  const fileReads: Array<Promise<void>> = [];
  // Keys in a store are probed synchronously: 5,000 of them in one pass, without a promise each.
  keys.forEach(({ file, record }, i) => {
    const dir = path.dirname(file);
    const store = stores.get(dir)!;
    holders[i] = file;
    if (store instanceof Error) {
      out[i] = probeError(file, store);
      return;
    }
    const entry = storeEntry(store, file);
    if (entry) {
      holders[i] = storeFiles.get(dir)!;
      out[i] = probeOrError(file, entry, record);
      return;
    }
    const names = listings.get(dir);
    if (names && !names.has(path.basename(file))) {
      out[i] = { missing: true };
      return;
    }
    fileReads.push(
      readFile(file).then(
        (bytes) => {
          out[i] = probeOrError(file, bytes, record);
        },
        (err: unknown) => {
          out[i] = probeError(file, err);
        },
      ),
    );
  });
  await Promise.all(fileReads);
  return { keys: out, holders };
}

/** The names in `dir`: empty when it does not exist, undefined when it cannot be listed. */
async function listNames(dir: string): Promise<ReadonlySet<string> | undefined> {
  try {
    return new Set(await readdir(dir));
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? new Set() : undefined;
  }
}

function probeOrError(file: string, bytes: Buffer, record: EphemeralRecord | undefined): LocalKey {
  try {
    return probeBytes(file, bytes, record);
  } catch (err) {
    return probeError(file, err);
  }
}

/**
 * sha256() of key bytes, once per Buffer: a key store read while unchanged hands out the very same entries
 * (keystore.ts), which nothing modifies, and a re-plan of 5,000 services would otherwise hash 5,000 keys again.
 */
const bytesDigests = new WeakMap<Buffer, string>();

function bytesDigest(bytes: Buffer): string {
  let d = bytesDigests.get(bytes);
  if (d === undefined) bytesDigests.set(bytes, (d = sha256(bytes)));
  return d;
}

function probeBytes(file: string, bytes: Buffer, record: EphemeralRecord | undefined): LocalKey {
  if (record?.keyDigest && bytesDigest(bytes) === record.keyDigest) {
    if (known.get(file)?.digest !== record.keyDigest) known.set(file, { digest: record.keyDigest });
    return { address: record.address };
  }
  return { address: keyFromBytes(file, bytes).address };
}

function probeError(file: string, err: unknown): LocalKey {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { missing: true };
  if (err instanceof KeyFileError) return { error: err.message };
  return { error: `${file}: cannot be read: ${(err as Error).message}` };
}

type KeyToWrite = { file: string; key: OnionServiceKey };

/**
 * Writes keys (0600, each atomically) before anything uses them, replacing what held them before (`keys
 * import` rewrites a key in our format). A key the store of its directory holds is replaced there, since the
 * store's entry is the one that counts; any other is written as a file. The fsyncs of many files run
 * concurrently.
 */
export async function persistKeys(keys: readonly KeyToWrite[], stateDirectory?: string): Promise<void> {
  await keyDirectories(keys, stateDirectory);
  const files: KeyToWrite[] = [];
  for (const [dir, group] of byDirectory(keys)) {
    const store = await readKeyStore(dir);
    const held = group.filter((k) => store.has(path.basename(k.file)));
    if (held.length) await addToKeyStore(dir, new Map(held.map((k) => [path.basename(k.file), keyBytes(k.key)])), { replace: true });
    // A copy an older tor-reconcile kept beside the store is rewritten too, so that no file shows the old key.
    const copies = new Set(held.length ? ((await listNames(dir)) ?? []) : []);
    files.push(...group.filter((k) => !store.has(path.basename(k.file)) || copies.has(path.basename(k.file))));
  }
  await writeSecretFilesAtomic(files.map((k) => ({ path: k.file, data: new Secret(keyBytes(k.key)) })));
  keys.forEach((k) => known.set(k.file, { digest: sha256(keyBytes(k.key)), key: k.key }));
}

/**
 * Writes newly generated keys where none exists, and fails rather than replace one: a key that appears
 * between the plan and now (another apply, a restore from backup) may hold an address in use.
 *
 * Keys in the state directory go to its key store, all of a directory in one durable write, before anything
 * uses them, and nowhere else: a file per key would cost a file creation each (~0.2 ms, 1,000 keys ~230 ms on
 * this disk) for no reader, since every read of a key goes through the store (`keys export` and `keys
 * address` included). A directory's older key files (from before the store) are folded into the store on
 * the way, as they are, and stay where they are.
 *
 * Key files elsewhere (a spec's own `key.file`) are written and fsynced under a temporary name each, then
 * hard-linked to their name, which fails if the name exists (rename would replace it); the directories are
 * fsynced once all are in place.
 */
export async function createKeyFiles(keys: readonly KeyToWrite[], stateDirectory: string): Promise<void> {
  await keyDirectories(keys, stateDirectory);
  const own: KeyToWrite[] = [];
  const loose: KeyToWrite[] = [];
  for (const k of keys) (keyStoreFor(k.file, stateDirectory) ? own : loose).push(k);
  for (const [dir, group] of byDirectory(own)) await createInKeyStore(dir, group);
  if (loose.length) await createLooseKeyFiles(loose);
}

async function createInKeyStore(dir: string, keys: readonly KeyToWrite[]): Promise<void> {
  const store = await readKeyStore(dir);
  // One readdir rather than a stat per key: the directory is ours, and its lock is held.
  const present = new Set(await readdir(dir));
  const creating = new Set(keys.map((k) => path.basename(k.file)));
  for (const name of creating) {
    if (store.has(name) || present.has(name)) throw new SecretFileError(path.join(dir, name), 'key file appeared meanwhile; refusing to replace it');
  }
  const entries = new Map(keys.map((k) => [path.basename(k.file), keyBytes(k.key)]));
  for (const [name, bytes] of await strayKeyFiles(dir, present, store)) entries.set(name, bytes);
  await addToKeyStore(dir, entries, { replace: false });
  keys.forEach((k) => known.set(k.file, { digest: sha256(entries.get(path.basename(k.file))!), key: k.key }));
}

/**
 * The key files of `dir` the store does not hold yet (written before it existed), byte for byte, so the
 * store takes them over with the digests recorded for them. A file that does not parse as a key stays a file
 * (and an error in the plan), as it was.
 */
async function strayKeyFiles(dir: string, present: ReadonlySet<string>, store: KeyStore): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const names = [...present].filter((n) => n.endsWith('.key') && !store.has(n));
  await Promise.all(
    names.map(async (name) => {
      const file = path.join(dir, name);
      const bytes = await readFile(file).catch(() => undefined);
      if (!bytes) return;
      try {
        keyFromBytes(file, bytes);
        out.set(name, bytes);
      } catch (err) {
        if (!(err instanceof KeyFileError)) throw err;
      }
    }),
  );
  return out;
}

async function createLooseKeyFiles(keys: readonly KeyToWrite[]): Promise<void> {
  const targets = keys.map((k) => path.resolve(k.file));
  const temps = targets.map((t) => path.join(path.dirname(t), `.${path.basename(t)}.${randomBytes(6).toString('hex')}.tmp`));
  try {
    await Promise.all(keys.map((k, i) => writeNewFile(temps[i]!, keyBytes(k.key), 0o600)));
    for (const [i, target] of targets.entries()) {
      await link(temps[i]!, target).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EEXIST') throw new SecretFileError(target, 'key file appeared meanwhile; refusing to replace it', { cause: err });
        throw new SecretFileError(target, `cannot create: ${err.message}`, { cause: err });
      });
    }
  } catch (err) {
    throw err instanceof SecretFileError ? err : new SecretFileError(targets[temps.indexOf((err as NodeJS.ErrnoException).path ?? '')] ?? targets[0] ?? '', `cannot write: ${(err as Error).message}`, { cause: err });
  } finally {
    await Promise.all(temps.map((t) => unlink(t).catch(() => {})));
  }
  await Promise.all([...new Set(targets.map((t) => path.dirname(t)))].map(syncDirectory));
  keys.forEach((k) => known.set(k.file, { digest: sha256(keyBytes(k.key)), key: k.key }));
}

function byDirectory(keys: readonly KeyToWrite[]): Map<string, KeyToWrite[]> {
  const out = new Map<string, KeyToWrite[]>();
  for (const k of keys) {
    const dir = path.dirname(path.resolve(k.file));
    const group = out.get(dir);
    if (group) group.push(k);
    else out.set(dir, [k]);
  }
  return out;
}

function keyBytes(key: OnionServiceKey): Buffer {
  return Buffer.from(key.toAddOnionBlob().reveal() + '\n', 'latin1');
}

/**
 * Key directories inside the state directory are ours: private (0700), tightened if needed. A key file
 * elsewhere (`key.file: ./web.key`) lives in a directory that is the user's: missing ones are created 0700,
 * existing ones are left as they are.
 */
async function keyDirectories(keys: readonly KeyToWrite[], stateDirectory: string | undefined): Promise<void> {
  // One key per directory is enough to tell whether the directory is the state directory's.
  for (const [dir, file] of new Map(keys.map((k) => [path.dirname(path.resolve(k.file)), k.file]))) {
    if (stateDirectory !== undefined && keyStoreFor(file, stateDirectory)) await ensureSecretDir(dir);
    else await mkdir(dir, { recursive: true, mode: 0o700 });
  }
}

/**
 * Records are per tor and per spec: one state directory may serve several tors, and specs sharing it may
 * each have a service called `web`.
 */
export function recordKey(target: string, spec: string, name: string): string {
  return JSON.stringify([target, spec, name]);
}

/**
 * Finds the records of `spec`'s services on `target`, by service name: a service's own record, else one written
 * before records named their tor (format ≤ 2, target ''), which the next record of the service replaces.
 * recordKey's text up to the name is the same for all of them, so each lookup serialises only the name (a plan
 * of 5,000 services serialised the spec's paths 10,000 times).
 */
export function recordFinder(records: ReadonlyMap<string, EphemeralRecord>, target: string, spec: string): (name: string) => EphemeralRecord | undefined {
  // JSON.stringify([a, b, c]) is JSON.stringify([a, b]) without its `]`, then `,`, JSON.stringify(c) and `]`.
  const own = `${JSON.stringify([target, spec]).slice(0, -1)},`;
  const old = `${JSON.stringify(['', spec]).slice(0, -1)},`;
  return (name) => {
    const tail = `${JSON.stringify(name)}]`;
    return records.get(own + tail) ?? records.get(old + tail);
  };
}

/** Format 1 keyed records by service name alone; it is still read, and rewritten as format 3. */
interface StateFileV1 {
  format_version: 1;
  ephemeral: Record<string, Omit<EphemeralRecord, 'name' | 'target'>>;
}

/** Format 2: records per spec, without the tor they were created on; still read. */
interface StateFileV2 {
  format_version: 2;
  ephemeral: Array<Omit<EphemeralRecord, 'target'>>;
}

interface StateFile {
  format_version: 3;
  ephemeral: EphemeralRecord[];
}

/**
 * The last state file read or written per path, by its stamp: a re-plan of 5,000 services (watch, every apply's
 * verifying re-read) would otherwise read and parse ~1.5 MB again. Callers get a copy of the map, which apply
 * changes; the records themselves are never modified, only replaced.
 */
const recordsCache = new Map<string, { stamp: string; records: ReadonlyMap<string, EphemeralRecord> }>();

export async function readRecords(stateDirectory: string): Promise<Map<string, EphemeralRecord>> {
  const file = path.join(stateDirectory, STATE_FILE);
  let stamp: string | undefined;
  let text: string;
  try {
    stamp = await fileStamp(file);
    const cached = recordsCache.get(file);
    if (stamp !== undefined && cached?.stamp === stamp) return new Map(cached.records);
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new StateFileError(`${file}: cannot be read: ${(err as Error).message}`, { cause: err });
  }
  const records = parseRecords(text, file);
  if (stamp !== undefined) recordsCache.set(file, { stamp, records: new Map(records) });
  return records;
}

function parseRecords(text: string, file: string): Map<string, EphemeralRecord> {
  try {
    const parsed = JSON.parse(text) as StateFile | StateFileV2 | StateFileV1;
    let records: EphemeralRecord[];
    if (parsed.format_version === 1 && parsed.ephemeral && typeof parsed.ephemeral === 'object') records = Object.entries(parsed.ephemeral).map(([name, r]) => ({ ...r, name, target: '' }));
    else if (parsed.format_version === 2 && Array.isArray(parsed.ephemeral)) records = parsed.ephemeral.map((r) => ({ ...r, target: '' }));
    else if (parsed.format_version === 3 && Array.isArray(parsed.ephemeral)) records = parsed.ephemeral;
    else throw new Error(typeof parsed.format_version === 'number' && parsed.format_version > 3 ? `format ${parsed.format_version}, written by a newer tor-reconcile` : 'unknown format');
    return new Map(records.map((r) => [recordKey(r.target, r.spec, r.name), r]));
  } catch (err) {
    throw new StateFileError(`${file}: not a tor-reconcile state file (${(err as Error).message}); move it aside to start over — keys are kept separately`, { cause: err });
  }
}

export async function writeRecords(stateDirectory: string, records: Map<string, EphemeralRecord>): Promise<void> {
  await ensureSecretDir(stateDirectory);
  const body: StateFile = { format_version: 3, ephemeral: [...records.values()].sort((a, b) => byText(a.target, b.target) || byText(a.spec, b.spec) || byText(a.name, b.name)) };
  const file = path.join(stateDirectory, STATE_FILE);
  await writeSecretFileAtomic(file, JSON.stringify(body, null, 2) + '\n');
  // In the order a read of the file gives.
  const stamp = await fileStamp(file).catch(() => undefined);
  if (stamp !== undefined) recordsCache.set(file, { stamp, records: new Map(body.ephemeral.map((r) => [recordKey(r.target, r.spec, r.name), r])) });
}

/**
 * Code-unit order: a stable order for the file, without localeCompare, whose first call loads ICU's collation
 * (~6 ms of every apply that records a service).
 */
function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface LockHolder {
  pid: number;
  host: string;
  /** Tells two holders with the same pid apart (a pid reused after a crash). */
  nonce: string;
}

/** A lock file this old with no readable holder was left by a crash between its creation and its write. */
const UNREADABLE_LOCK_STALE_MS = 5_000;

/**
 * Holds `<stateDirectory>/.lock` (O_EXCL, holding pid and host) so that two appliers sharing a state
 * directory cannot interleave their key writes and record updates. A lock whose holder is a dead process
 * on this host is stale and taken over; one held by a live process (or on another host, which cannot be
 * checked) is waited for up to `waitMs`. Resolves to the release.
 */
export async function lockStateDirectory(stateDirectory: string, waitMs: number): Promise<() => Promise<void>> {
  await ensureSecretDir(stateDirectory);
  const file = path.join(stateDirectory, LOCK_FILE);
  const me = JSON.stringify({ pid: process.pid, host: os.hostname(), nonce: randomBytes(8).toString('hex') } satisfies LockHolder) + '\n';
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (await createExclusive(file, me)) {
      return async () => {
        if ((await readFile(file, 'utf8').catch(() => undefined)) === me) await unlink(file).catch(() => {});
      };
    }
    const seen = await readFile(file, 'utf8').catch(() => undefined);
    if (seen === undefined) continue;
    const holder = parseHolder(seen);
    if (holder ? holder.host === os.hostname() && !processAlive(holder.pid) : await olderThan(file, UNREADABLE_LOCK_STALE_MS)) {
      await breakStaleLock(file, seen, me);
      continue;
    }
    if (Date.now() >= deadline) {
      const who = holder ? `pid ${holder.pid} on ${holder.host}` : 'a process that wrote nothing into it';
      throw new StateLockedError(`${file}: another tor-reconcile (${who}) is applying to this state directory; waited ${Math.round(waitMs / 1000)}s. If none is running, remove the file.`);
    }
    await sleep(50);
  }
}

async function createExclusive(file: string, content: string): Promise<boolean> {
  try {
    await writeNewFile(file, Buffer.from(content), 0o600, false);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new StateFileError(`${file}: cannot create the lock: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Removes a stale lock unless someone replaced it meanwhile. Two processes may find the same stale lock;
 * without the guard, the slower one would remove the lock the faster one just took. The guard itself is held
 * for two file operations, so one older than a few seconds was left by a crash.
 */
async function breakStaleLock(file: string, stale: string, me: string): Promise<void> {
  const guard = `${file}.break`;
  if (!(await createExclusive(guard, me))) {
    if (await olderThan(guard, UNREADABLE_LOCK_STALE_MS)) await unlink(guard).catch(() => {});
    else await sleep(10);
    return;
  }
  try {
    if ((await readFile(file, 'utf8').catch(() => undefined)) === stale) await unlink(file).catch(() => {});
  } finally {
    await unlink(guard).catch(() => {});
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as LockHolder;
    return Number.isInteger(h.pid) && typeof h.host === 'string' ? h : undefined;
  } catch {
    return undefined;
  }
}

async function olderThan(file: string, ms: number): Promise<boolean> {
  const st = await stat(file).catch(() => undefined);
  return st !== undefined && Date.now() - st.mtimeMs > ms;
}

export function digest(value: unknown): string {
  // One-shot, as sha256() above: a plan digests every ephemeral service's configuration.
  return hash('sha256', JSON.stringify(value), 'hex');
}
