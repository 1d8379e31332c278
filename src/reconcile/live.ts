import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { DesiredState } from '../spec/model.js';
import type { TorClient } from '../tor/client.js';
import { HOSTNAME_FILE, KeyFileError, PUBLIC_KEY_FILE, readTorKeyFiles, SECRET_KEY_FILE } from '../tor/onion/index.js';
import { resolveDesired } from './desired.js';
import { parseServiceBlock, normalizeDirectory } from './hsblock.js';
import { keyStoreFor } from './keystore.js';
import { digest, probeKeyFiles, readRecords } from './local.js';
import { persistInfoKeys, readLivePersist } from './persist/live.js';
import { probeEntry, probePath, readTorIdentity } from './fs-probe.js';
import type { EphemeralRecord, LiveServiceFiles, LiveState, LocalKey, PathEntry, PathProbe } from './types.js';

/**
 * Read exactly what the spec manages, in one pipelined round trip: the managed options, the whole
 * HiddenService block, the detached onions, tor's uid, and (when the spec has client auth) tor's client
 * credentials. Local files (keys, authorized_clients, the record of ephemeral services) are read alongside.
 */
export async function readLiveState(client: TorClient, desired: DesiredState): Promise<LiveState> {
  // Options native attach policies compile to are managed too.
  const names = [...new Set(resolveDesired(desired).options.map((o) => o.name))];
  const managesConfig = names.length > 0 || desired.onionServices.some((s) => s.type === 'filesystem');
  const [conf, block, info, clientAuth, local] = await Promise.all([
    names.length ? client.getConf(names) : Promise.resolve(new Map<string, string[]>()),
    client.getConfEntries(['HiddenServiceOptions']),
    client.getInfo(['onions/detached', 'process/uid', 'process/user', ...persistInfoKeys(desired.persist, managesConfig)]),
    desired.clientAuth.length || desired.prune ? client.onionClientAuthView() : Promise.resolve([]),
    readLocal(desired),
  ]);
  const services = parseServiceBlock(block);
  const options = new Map<string, string[]>();
  for (const [k, v] of conf) options.set(k, v);
  const uid = Number(info['process/uid']);
  const torUid = Number.isInteger(uid) && uid >= 0 ? uid : undefined;
  const [persist, torUser] = await Promise.all([
    readLivePersist(desired.persist, info, torUid, managesConfig),
    torUid !== undefined ? readTorIdentity(info['process/user']?.trim() || undefined, torUid) : Promise.resolve(undefined),
  ]);
  const state: Omit<LiveState, 'fingerprint'> = {
    torVersion: client.version,
    ...(Number.isInteger(uid) && uid >= 0 ? { torUid: uid } : {}),
    ...(torUser ? { torUser } : {}),
    localFiles: local.localFiles,
    options,
    services,
    serviceFiles: local.serviceFiles,
    detachedOnions: (info['onions/detached'] ?? '').split('\n').map((s) => s.trim()).filter(Boolean),
    clientAuth,
    ephemeralKeys: local.ephemeralKeys,
    records: local.records,
    ...(persist ? { persist } : {}),
  };
  return { ...state, fingerprint: fingerprint(state) };
}

/** The local files the spec names (keys, authorized_clients, records); offline.ts reads them too. */
export async function readLocal(desired: DesiredState) {
  const serviceFiles = new Map<string, LiveServiceFiles>();
  const ephemeralKeys = new Map<string, LocalKey>();
  const records = await readRecords(desired.stateDirectory);
  // A record's key digest proves which address the file's bytes gave, on whichever tor it was made.
  const byKeyFile = new Map([...records.values()].map((r) => [r.keyFile, r]));
  const keyFiles = new Map<string, PathProbe>();
  const ephemeral = desired.onionServices.filter((s) => s.type === 'ephemeral');
  const parents = new Map<string, Promise<PathEntry>>();
  const [stateDirectory, probed] = await Promise.all([
    probePath(desired.stateDirectory, parents),
    probeKeyFiles(ephemeral.map((s) => ({ file: s.keyFile, record: byKeyFile.get(s.keyFile) }))).then(async (p) => {
      // What holds the secret is walked, once per file: 5,000 keys in one key store are one walk. A key not
      // generated yet is judged where generate-key will write it: its key store, or its own file.
      const holders = p.holders.map((file, i) => (p.keys[i]!.missing ? (keyStoreFor(file, desired.stateDirectory) ?? file) : file));
      await Promise.all([...new Set(holders)].map(async (file) => void keyFiles.set(file, await probePath(file, parents))));
      return p.keys;
    }),
    ...desired.onionServices.map(async (s) => {
      if (s.type === 'filesystem') serviceFiles.set(normalizeDirectory(s.directory), await readServiceFiles(s.directory, s.address !== undefined, s.obConfig !== undefined));
    }),
  ]);
  ephemeral.forEach((s, i) => ephemeralKeys.set(s.name, probed[i]!));
  return { serviceFiles, ephemeralKeys, records, localFiles: { stateDirectory, keyFiles } };
}

/** The files tor keeps in a service directory, which it must be able to read. */
const TOR_FILES = [SECRET_KEY_FILE, PUBLIC_KEY_FILE, HOSTNAME_FILE];

/** `withObConfig`: an Onionbalance backend's, whose ob_config is read too (no other service pays for it). */
async function readServiceFiles(dir: string, verifyKey: boolean, withObConfig: boolean): Promise<LiveServiceFiles> {
  // Every component, for tor's access and for paths others could swap (plan-directories.ts).
  const probe = await probePath(dir);
  const files: LiveServiceFiles = { clients: new Map(), exists: false, probe };
  const authDir = path.join(dir, 'authorized_clients');
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) return { ...files, notDirectory: true };
    files.exists = true;
    files.mode = st.mode & 0o777;
  } catch {
    return files;
  }
  files.authDir = await probeEntry(path.join(probe.real, 'authorized_clients'));
  const authNames = files.authDir.kind === 'dir' ? await readdir(files.authDir.path).catch(() => [] as string[]) : [];
  const torFiles = [...TOR_FILES.map((n) => path.join(probe.real, n)), ...authNames.filter((n) => n.endsWith('.auth')).map((n) => path.join(probe.real, 'authorized_clients', n))];
  files.torFiles = (await Promise.all(torFiles.map((f) => probeEntry(f)))).filter((e) => e.kind !== 'missing');
  const names = await readdir(authDir).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((n) => n.endsWith('.auth'))
      .map(async (n) => files.clients.set(n.slice(0, -'.auth'.length), (await readFile(path.join(authDir, n), 'utf8')).trim())),
  );
  const obConfig = withObConfig ? await readFile(path.join(dir, 'ob_config'), 'utf8').catch(() => undefined) : undefined;
  if (obConfig !== undefined) files.obConfig = obConfig;
  const hostname = await readFile(path.join(dir, 'hostname'), 'utf8').catch(() => undefined);
  if (hostname !== undefined) files.hostname = hostname.trim().replace(/\.onion$/, '');
  // Tor silently replaces a corrupt key with a new one (a new address), so a pinned address is checked
  // against the key itself, not against the hostname file tor may rewrite.
  if (verifyKey) {
    try {
      files.keyAddress = (await readTorKeyFiles(dir)).address;
    } catch (err) {
      if (!(err instanceof KeyFileError) || !/does not exist/.test(err.message)) files.keyError = (err as Error).message;
    }
  }
  return files;
}

/**
 * What the fingerprint hashes of each field. Every field of LiveState must have an entry (the type says so):
 * one left out is an input of the plan that a saved plan is not checked against.
 */
type FingerprintParts = { [K in keyof Omit<LiveState, 'fingerprint'>]-?: unknown };

export function fingerprint(state: Omit<LiveState, 'fingerprint'>): string {
  const parts: FingerprintParts = {
    torVersion: state.torVersion,
    // Who tor runs as and what our state directory and key files are (owners, modes, links): plans chown
    // to tor's user and refuse what others could swap or read, so these are inputs of a plan like tor's replies.
    torUid: state.torUid ?? null,
    torUser: state.torUser ?? null,
    localFiles: state.localFiles ? [state.localFiles.stateDirectory, [...state.localFiles.keyFiles].sort(byKey)] : null,
    options: [...state.options].sort(byKey),
    services: state.services,
    // The paths' owners and modes too: a saved plan made before a directory or symlink was swapped is stale.
    serviceFiles: [...state.serviceFiles].sort().map(([d, f]) => [d, [...f.clients].sort(), f.keyAddress ?? null, f.keyError ?? null, f.exists, f.probe ?? null, f.authDir ?? null, f.torFiles ?? null, f.hostname ?? null, f.mode ?? null, f.notDirectory ?? false, ...(f.obConfig !== undefined ? [f.obConfig] : [])]),
    detachedOnions: [...state.detachedOnions].sort(),
    clientAuth: state.clientAuth.map((c) => [c.address, c.clientName ?? null, c.flags, digest(c.privateKey.reveal())]).sort(),
    ephemeralKeys: [...state.ephemeralKeys].sort(byKey),
    // A record's key is made of its own fields (recordKey): its digest covers both.
    records: [...state.records].sort(byKey).map(([, r]) => recordDigest(r)),
    persist: state.persist ? [digest(state.persist.dropIn), state.persist.included, state.persist.configFile ?? null, state.persist.saved ?? null, state.persist.defaultsFile ?? null, state.persist.torrcError ?? null, state.persist.torUser ?? null, state.persist.torGid ?? null, state.persist.restart ?? null] : null,
  };
  return digest(parts);
}

/**
 * Each record's digest, once per record object: records are never modified, only replaced, and the state
 * file's records are kept across reads while it is unchanged (local.ts readRecords), so a re-plan of 5,000
 * services serialises 5,000 digests instead of every record (~1.5 MB) each time.
 */
const recordDigests = new WeakMap<EphemeralRecord, string>();

function recordDigest(r: EphemeralRecord): string {
  let d = recordDigests.get(r);
  if (d === undefined) recordDigests.set(r, (d = digest(r)));
  return d;
}

/**
 * Map entries by key. The default sort turns every entry into a string at every comparison (the value
 * included): 5,000 records cost several milliseconds more per plan. The order is the same for the names
 * these maps hold (none has a character below ',', which ends the key in the default's string).
 */
function byKey(a: readonly [string, unknown], b: readonly [string, unknown]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
