/**
 * Persistence in the live state: the drop-in as it is on disk, the torrc files tor was started with
 * (`GETINFO config-file`, `config-defaults-file`, asked in readLiveState's one round trip), and whether they
 * `%include` the drop-in, directly or through a file they include.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { PersistSpec } from '../../spec/model.js';
import type { ConfEntry } from '../../tor/replies.js';
import type { TorrcConfig } from './restart.js';
import { includeCovers, includesOf, torrcEntries } from './torrc.js';

export interface LivePersist {
  /** The torrc tor read, and its defaults file when it exists. */
  configFile?: string;
  defaultsFile?: string;
  /** The drop-in's content; null when there is no such file. */
  dropIn: string | null;
  /** One of tor's torrc files reads the drop-in. */
  included: boolean;
  /** Why tor's torrc could not be read (the include can't be checked, nor the new file verified). */
  torrcError?: string;
  /** tor's user name and primary group (from /etc/passwd): a drop-in holding a secret is readable by that group. */
  torUser?: string;
  torGid?: number;
  /** `persist: saveconf`: tor's torrc holds what SAVECONF would write now (`GETINFO config-text`). */
  saved?: boolean;
  /** `persist: none`, for a spec that sets options or filesystem services: what tor reads at its next start (restart.ts). */
  restart?: TorrcConfig;
}

/**
 * GETINFO keys persistence needs, added to readLiveState's batch. `managesConfig`: the spec sets options or
 * filesystem services, which `persist: none` leaves in tor's memory only.
 */
export function persistInfoKeys(spec: PersistSpec | undefined, managesConfig: boolean): string[] {
  if (spec?.mode === 'file' || (isNone(spec) && managesConfig)) return ['config-file', 'config-defaults-file'];
  return spec?.mode === 'saveconf' ? ['config-file', 'config-text'] : [];
}

/** Tor reads at most this deep (its MAX_INCLUDE_RECURSION_LEVEL is 31); a deeper chain is not ours. */
const MAX_DEPTH = 8;

export async function readLivePersist(spec: PersistSpec | undefined, info: Record<string, string>, torUid: number | undefined, managesConfig: boolean): Promise<LivePersist | undefined> {
  if (spec?.mode === 'saveconf') return readSaved(info);
  if (isNone(spec)) return managesConfig ? readRestart(info) : undefined;
  if (spec?.mode !== 'file') return undefined;
  const configFile = info['config-file'] || undefined;
  const defaults = info['config-defaults-file'] || undefined;
  const live: LivePersist = { dropIn: await readFile(spec.file, 'utf8').catch(() => null), included: false };
  if (configFile) live.configFile = configFile;
  // Tor names its default defaults file whether or not it exists.
  if (defaults && (await readFile(defaults, 'utf8').then(() => true, () => false))) live.defaultsFile = defaults;
  try {
    for (const f of [live.defaultsFile, configFile]) if (f && (await reads(f, spec.file, 0))) live.included = true;
  } catch (err) {
    live.torrcError = (err as Error).message;
  }
  const account = torUid === undefined ? undefined : await passwdEntry(torUid);
  if (account) Object.assign(live, { torUser: account.name, torGid: account.gid });
  return live;
}

function isNone(spec: PersistSpec | undefined): boolean {
  return spec === undefined || spec.mode === 'none';
}

/** `persist: none`: the torrc files tor would read again at a restart or reload. */
async function readRestart(info: Record<string, string>): Promise<LivePersist> {
  const configFile = info['config-file'] || undefined;
  const defaultsFile = info['config-defaults-file'] || undefined;
  const live: LivePersist = { dropIn: null, included: false, ...(configFile ? { configFile } : {}) };
  if (!configFile) return { ...live, torrcError: 'tor names no torrc (GETINFO config-file is empty)' };
  try {
    live.restart = await readTorrcConfig(configFile, defaultsFile);
  } catch (err) {
    live.torrcError = (err as Error).message;
  }
  return live;
}

/** What tor reads at its next start (restart.ts). Throws (with the file's name) when the torrc or an included file cannot be read or parsed. */
export async function readTorrcConfig(configFile: string, defaultsFile: string | undefined): Promise<TorrcConfig> {
  const torrc = await linesOf(configFile, 0);
  // Tor names its default defaults file whether or not it exists.
  const hasDefaults = defaultsFile !== undefined && (await stat(defaultsFile).catch(() => undefined)) !== undefined;
  return { torrc, defaults: hasDefaults ? await linesOf(defaultsFile, 0) : [] };
}

async function linesOf(file: string, depth: number): Promise<ConfEntry[]> {
  const text = await readFile(file, 'utf8');
  const out: ConfEntry[] = [];
  // Line by line, so that an included file's lines take the place of its `%include`, as tor reads them.
  for (const line of text.replace(/\\\r?\n/g, '').split('\n')) {
    const include = includesOf(line)[0];
    if (include === undefined) {
      out.push(...entriesOf(line, file));
      continue;
    }
    if (depth >= MAX_DEPTH) continue;
    for (const f of await expandInclude(include)) {
      // Tor reads the files of an included directory, not its subdirectories.
      if (f !== include && (await stat(f).catch(() => undefined))?.isDirectory()) continue;
      out.push(...(await linesOf(f, depth + 1)));
    }
  }
  return out;
}

function entriesOf(line: string, file: string): ConfEntry[] {
  try {
    return torrcEntries(line);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
}

/**
 * Whether tor's torrc holds what SAVECONF would write (its lines, comments aside, equal config-text's): a
 * torrc saved before a change made since, by us or anyone, is drift.
 */
async function readSaved(info: Record<string, string>): Promise<LivePersist> {
  const configFile = info['config-file'] || undefined;
  const live: LivePersist = { dropIn: null, included: true, ...(configFile ? { configFile } : {}) };
  const lines = (text: string) => text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  try {
    const onDisk = configFile ? await readFile(configFile, 'utf8') : '';
    live.saved = lines(onDisk).join('\n') === lines(info['config-text'] ?? '').join('\n');
  } catch (err) {
    live.torrcError = (err as Error).message;
  }
  return live;
}

/** Whether the torrc `file` reads `target` through its `%include` lines. */
async function reads(file: string, target: string, depth: number): Promise<boolean> {
  const text = await readFile(file, 'utf8');
  for (const pattern of includesOf(text)) {
    if (includeCovers(pattern, target)) return true;
    if (depth >= MAX_DEPTH) continue;
    for (const f of await expandInclude(pattern)) if (await reads(f, target, depth + 1).catch(() => false)) return true;
  }
  return false;
}

/**
 * The files `%include pattern` reads today, in tor's order: the file; a directory's files but dotfiles,
 * sorted; a glob's matches (in its last component only), sorted.
 */
export async function expandInclude(pattern: string): Promise<string[]> {
  const p = pattern.length > 1 ? pattern.replace(/\/+$/, '') : pattern;
  if (/[*?[]/.test(path.basename(p))) {
    const dir = path.dirname(p);
    const names = await readdir(dir).catch(() => [] as string[]);
    return names.filter((n) => !n.startsWith('.') && includeCovers(p, path.join(dir, n))).sort().map((n) => path.join(dir, n));
  }
  const names = await readdir(p).catch(() => undefined);
  if (!names) return [p];
  return names.filter((n) => !n.startsWith('.')).sort().map((n) => path.join(p, n));
}

/** tor's account by uid (offline.ts asks it for the embedded tor, which runs as us). */
export async function passwdEntry(uid: number): Promise<{ name: string; gid: number } | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[2] !== '' && Number(f[2]) === uid && f[3] !== undefined) return { name: f[0]!, gid: Number(f[3]) };
  }
  return undefined;
}
