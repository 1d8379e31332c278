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
 * An ephemeral service key file: `ED25519-V3:<base64>` (what ADD_ONION takes, and what we write), or
 * tor's own 96-byte `hs_ed25519_secret_key`, so a filesystem service's key can be used directly.
 */
export async function loadKeyFile(file: string): Promise<OnionServiceKey> {
  const bytes = await readFile(file);
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

export async function probeKeyFile(file: string): Promise<LocalKey> {
  try {
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
  await writeSecretFilesAtomic(keys.map((k) => ({ path: k.file, data: new Secret(k.key.toAddOnionBlob().reveal() + '\n') })));
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
