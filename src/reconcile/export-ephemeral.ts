/**
 * What an export of a live tor adds beyond its configuration: its detached ephemeral services and its
 * client-auth credentials. Neither is in tor's configuration, and tor reports neither completely —
 * `GETINFO onions/detached` gives addresses only, ONION_CLIENT_AUTH_VIEW gives the private keys — so:
 *
 * - a detached service is exported when the state directory's record names the spec that added it: the
 *   service comes from that spec (ports, clients, limits; its digest must still match the record) and its key
 *   is referenced as `key: { file: … }`, never inlined. Any other service is listed in a comment with its
 *   address and why (no state directory, only a key file without ports, no key at all).
 * - each client credential is written to a 0600 `.auth_private` file and referenced as `${file:…}`.
 *
 * With an output file, the exported spec adopts the services: their records are copied under its own
 * identity (adoptRecords), so planning it against the same tor finds them in sync rather than re-adding them.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { loadSpec } from '../spec/index.js';
import type { EphemeralService } from '../spec/model.js';
import type { TorClient } from '../tor/client.js';
import { clientAuthPrivateKeyFromBase64, clientAuthPrivateLine, ensureSecretDir, writeSecretFileAtomic } from '../tor/onion/index.js';
import { digest, loadKeyFile, lockStateDirectory, probeKeyFile, readRecords, recordKey, writeRecords } from './local.js';
import { KEY_STORE_FILE, readKeyStore } from './keystore.js';
import { ephemeralConfig } from './plan-ephemeral.js';
import type { EphemeralRecord } from './types.js';

export interface EphemeralExport {
  services: Array<Record<string, unknown>>;
  notes: string[];
  /** Records of the exported services, for adoptRecords. */
  records: EphemeralRecord[];
}

/** The detached services of a tor whose keys `stateDir` holds; `rel` writes a path as the spec will. */
export async function exportEphemeral(
  detached: readonly string[],
  opts: { stateDir?: string; env: Record<string, string | undefined>; rel: (file: string) => string; usedNames: Set<string> },
): Promise<EphemeralExport> {
  const out: EphemeralExport = { services: [], notes: [], records: [] };
  if (!detached.length) return out;
  const missing: string[] = [];
  if (!opts.stateDir) {
    out.notes.push('Detached ephemeral services, not exported (give --state-dir DIR where their keys are):', ...detached.map((a) => `  ${a}.onion`));
    return out;
  }
  const records = [...(await readRecords(opts.stateDir)).values()];
  const keyFiles = await keysIn(path.join(opts.stateDir, 'keys'));
  const specs = new Map<string, Promise<EphemeralService[] | string>>();
  for (const address of detached) {
    const record = records.find((r) => r.address === address);
    if (!record) {
      const file = keyFiles.get(address);
      missing.push(
        file
          ? `  ${address}.onion: its key is ${file}, but its ports are unknown (tor does not report them, and no record in ${opts.stateDir} names the spec that added it)`
          : `  ${address}.onion: no record or key for it in ${opts.stateDir}`,
      );
      continue;
    }
    if (!specs.has(record.spec)) specs.set(record.spec, servicesOf(record.spec, opts.env));
    const found = await specs.get(record.spec)!;
    const service = typeof found === 'string' ? undefined : found.find((s) => s.name === record.name);
    const why =
      typeof found === 'string'
        ? found
        : !service
          ? `its spec (${record.spec.replace(/\n/g, ', ')}) no longer has service ${record.name}`
          : digest(ephemeralConfig(service)) !== record.config
            ? `service ${record.name} of its spec changed since it was added, so its running ports are unknown`
            : (await probeKeyFile(record.keyFile, record)).address !== address
              ? `its key file ${record.keyFile} no longer holds its key`
              : undefined;
    if (why || !service) {
      missing.push(`  ${address}.onion: ${why}`);
      continue;
    }
    // A filesystem service (or another spec's service) may have the name already: the spec needs unique ones.
    let name = service.name;
    for (let i = 2; opts.usedNames.has(name); i++) name = `${service.name}-${i}`;
    opts.usedNames.add(name);
    out.records.push({ ...record, name });
    out.services.push({
      name,
      type: 'ephemeral',
      key: { file: opts.rel(record.keyFile) },
      ports: service.ports,
      ...(service.maxStreams !== undefined ? { maxStreams: service.maxStreams } : {}),
      ...(service.maxStreamsCloseCircuit ? { maxStreamsCloseCircuit: true } : {}),
      ...(service.authorizedClients.length ? { authorizedClients: service.authorizedClients.map((c) => ({ name: c.name, publicKey: c.publicKey })) } : {}),
    });
  }
  if (missing.length) out.notes.push('Detached ephemeral services not exported:', ...missing);
  return out;
}

/** The ephemeral services of the spec files `specId` (one per line), or why they cannot be read. */
async function servicesOf(specId: string, env: Record<string, string | undefined>): Promise<EphemeralService[] | string> {
  try {
    const { state } = await loadSpec(specId.split('\n'), { env });
    return state.onionServices.filter((s): s is EphemeralService => s.type === 'ephemeral');
  } catch (err) {
    return `the spec that added it (${specId.replace(/\n/g, ', ')}) cannot be loaded: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Address → key path, for the keys in `dir` that parse: its key store's entries and its key files. */
async function keysIn(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  // A stored key has no file of its own: its path is named by its entry in the store.
  const stored = await readKeyStore(dir).catch(() => new Map<string, Buffer>());
  const names = new Set([...stored.keys(), ...(await readdir(dir).catch(() => [] as string[])).filter((n) => n !== KEY_STORE_FILE)]);
  for (const name of [...names].sort()) {
    const file = path.join(dir, name);
    const key = await loadKeyFile(file).catch(() => undefined);
    if (key) out.set(key.address, file);
  }
  return out;
}

/**
 * Records of `records` copied under the spec `specFile` (absolute), in `stateDir`, under its lock: the
 * exported spec then owns the running services as the spec that added them does.
 */
export async function adoptRecords(stateDir: string, specFile: string, records: readonly EphemeralRecord[]): Promise<void> {
  if (!records.length) return;
  const release = await lockStateDirectory(stateDir, 10_000);
  try {
    const current = await readRecords(stateDir);
    for (const r of records) current.set(recordKey(r.target, specFile, r.name), { ...r, spec: specFile });
    await writeRecords(stateDir, current);
  } finally {
    await release();
  }
}

/**
 * tor's client-auth credentials (ONION_CLIENT_AUTH_VIEW) as `clientAuth` entries referring to
 * `<dir>/<name or address>.auth_private` files written 0600; without `dir`, only a note that they exist.
 */
export async function exportClientAuth(client: TorClient, dir: string | undefined, rel: (file: string) => string): Promise<{ entries: Array<Record<string, unknown>>; notes: string[] }> {
  const view = await client.onionClientAuthView();
  if (!view.length) return { entries: [], notes: [] };
  if (!dir) return { entries: [], notes: [`${view.length} client-auth credential(s) not exported: give -o FILE or --secrets-dir DIR to write them as 0600 files.`] };
  await ensureSecretDir(dir);
  const entries = [];
  const used = new Set<string>();
  for (const e of view) {
    let base = (e.clientName ?? e.address).replace(/[^A-Za-z0-9_.-]/g, '-');
    for (let i = 2; used.has(base); i++) base = `${(e.clientName ?? e.address).replace(/[^A-Za-z0-9_.-]/g, '-')}-${i}`;
    used.add(base);
    const file = path.join(dir, `${base}.auth_private`);
    await writeSecretFileAtomic(file, clientAuthPrivateLine(e.address, clientAuthPrivateKeyFromBase64(e.privateKey)));
    entries.push({
      privateKey: `\${file:${rel(file)}}`,
      ...(e.clientName !== undefined ? { name: e.clientName } : {}),
      permanent: e.flags.includes('Permanent'),
    });
  }
  return { entries, notes: [] };
}
