/**
 * What tor-reconcile keeps on its own disk: ephemeral service keys and the record of what it created.
 * Tor can list detached onion services but not their ports or clients, so the record is the only way to
 * know whether a running service still matches the spec.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { KeyFileError, OnionKeyError, OnionServiceKey, parseSecretKeyFile, writeSecretFileAtomic, writeSecretFilesAtomic, ensureSecretDir } from '../tor/onion/index.js';
import { Secret } from '../tor/secret.js';
import { StateFileError } from './errors.js';
import type { EphemeralRecord, LocalKey } from './types.js';

export const STATE_FILE = 'state.json';

/**
 * Keys already parsed in this process, by the SHA-256 of their file's bytes: deriving an address from an
 * expanded key is a curve multiplication (~0.3 ms), which 1,000 services would otherwise pay on every read.
 */
const parsed = new Map<string, OnionServiceKey>();
/** The digest of each key file as last read or written here. */
const fileDigests = new Map<string, string>();

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * An ephemeral service key file: `ED25519-V3:<base64>` (what ADD_ONION takes, and what we write), or
 * tor's own 96-byte `hs_ed25519_secret_key`, so a filesystem service's key can be used directly.
 */
export async function loadKeyFile(file: string): Promise<OnionServiceKey> {
  const bytes = await readFile(file);
  const digest = sha256(bytes);
  fileDigests.set(file, digest);
  const known = parsed.get(digest);
  if (known) return known;
  const key = parseKeyBytes(bytes, file);
  parsed.set(digest, key);
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
  return fileDigests.get(file) ?? sha256(await readFile(file));
}

/**
 * The address a key file gives. A file whose exact bytes tor already served (the record's digest, written
 * after tor answered ADD_ONION with the address) is not parsed again: tor's answer is the proof.
 */
export async function probeKeyFile(file: string, record?: EphemeralRecord): Promise<LocalKey> {
  try {
    if (record?.keyDigest) {
      const bytes = await readFile(file);
      if (sha256(bytes) === record.keyDigest) {
        fileDigests.set(file, record.keyDigest);
        return { address: record.address };
      }
    }
    return { address: (await loadKeyFile(file)).address };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { missing: true };
    if (err instanceof KeyFileError) return { error: err.message };
    return { error: `${file}: cannot be read: ${(err as Error).message}` };
  }
}

/**
 * Writes keys (0600, each atomically; directories 0700) before anything uses them. The fsyncs of many keys
 * run concurrently, not one after another.
 */
export async function persistKeys(keys: ReadonlyArray<{ file: string; key: OnionServiceKey }>): Promise<void> {
  for (const dir of new Set(keys.map((k) => path.dirname(k.file)))) await ensureSecretDir(dir);
  const files = keys.map((k) => ({ path: k.file, data: new Secret(Buffer.from(k.key.toAddOnionBlob().reveal() + '\n', 'latin1')) }));
  await writeSecretFilesAtomic(files);
  files.forEach((f, i) => {
    const digest = sha256(f.data.reveal());
    fileDigests.set(f.path, digest);
    parsed.set(digest, keys[i]!.key);
  });
}

interface StateFile {
  format_version: 1;
  ephemeral: Record<string, EphemeralRecord>;
}

export async function readRecords(stateDirectory: string): Promise<Map<string, EphemeralRecord>> {
  const file = path.join(stateDirectory, STATE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new StateFileError(`${file}: cannot be read: ${(err as Error).message}`, { cause: err });
  }
  try {
    const parsed = JSON.parse(text) as StateFile;
    if (parsed.format_version !== 1 || typeof parsed.ephemeral !== 'object') throw new Error('unknown format');
    return new Map(Object.entries(parsed.ephemeral));
  } catch (err) {
    throw new StateFileError(`${file}: not a tor-reconcile state file (${(err as Error).message}); move it aside to start over — keys are kept separately`, { cause: err });
  }
}

export async function writeRecords(stateDirectory: string, records: Map<string, EphemeralRecord>): Promise<void> {
  await ensureSecretDir(stateDirectory);
  const body: StateFile = { format_version: 1, ephemeral: Object.fromEntries([...records].sort(([a], [b]) => a.localeCompare(b))) };
  await writeSecretFileAtomic(path.join(stateDirectory, STATE_FILE), JSON.stringify(body, null, 2) + '\n');
}

export function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}
