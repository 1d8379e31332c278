/**
 * `tor-reconcile export`: a tor's configuration as a spec worth committing. The source is either a live tor
 * (one GETCONF of every option) or torrc files read by tor itself (export-torrc.ts, `--dump-config full`);
 * both give every option's value as tor holds it, so one function turns them into the same spec:
 * typed values (export-values.ts), tor's defaults left out, the process's own plumbing set apart
 * (export-instance.ts), onion services with their authorized clients, and, from a live tor, its ephemeral
 * services and client credentials (export-ephemeral.ts). The result is data; src/cli/views/export.ts
 * renders it as YAML.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { TorClient } from '../tor/client.js';
import { parseServiceAuthLine } from '../tor/onion/index.js';
import { SECRET_OPTIONS } from '../tor/config/secrets.js';
import type { OptionTable } from '../tor/config/types.js';
import { decodeReplyValue } from '../tor/protocol/quoting.js';
import { parseEndpoint } from '../tor/address.js';
import { onionOption } from '../spec/onion-options.js';
import { exportValue, isDefault, type ExportValue } from './export-values.js';
import { instanceReason } from './export-instance.js';
import { exportClientAuth, exportEphemeral } from './export-ephemeral.js';
import { parsePortLine, parseServiceBlock } from './hsblock.js';
import { tableFor } from './reconcile.js';
import type { EphemeralRecord } from './types.js';

export interface ExportFlags {
  /** Keep options equal to tor's default (`--all`). */
  all?: boolean;
  /** Put instance options into `options:` rather than the closing comment (`--include-instance`). */
  includeInstance?: boolean;
}

export interface ExportedOption {
  name: string;
  /** null: unset, tor's default (only with `--all`). */
  value: ExportValue | null;
  /** Set for an instance option: why it is not declared state. */
  instance?: string;
}

/** An exported spec as data: what the view writes as YAML, in this order. */
export interface ExportedSpec {
  /** Where it came from, for the header comment (`tor 0.4.9.11 at unix:/run/tor/control`). */
  origin: string;
  /** Read from torrc files (`--torrc`) rather than a live tor. */
  fromFiles?: boolean;
  /** `tor.control`; absent when the source names no control listener. */
  control?: string;
  options: ExportedOption[];
  /** `stateDirectory`, when the export refers to keys and records there. */
  stateDirectory?: string;
  /** Spec objects of `onionServices`, in tor's order (filesystem, then ephemeral ones). */
  services: Array<Record<string, unknown>>;
  /** Spec objects of `clientAuth`, each private key a `${file:}` reference. */
  clientAuth?: Array<Record<string, unknown>>;
  /** Instance options not in `options:` (empty with includeInstance). */
  instance: ExportedOption[];
  /** Lines for the closing comment: what could not be exported and why. */
  notes: string[];
}

/** One option line as tor gives it (`Key value`, value decoded); null for GETCONF's bare `Key` (unset). */
export type DumpLine = readonly [key: string, value: string | null];

/** `tor --dump-config` text → lines; values are C-unquoted where tor quoted them. */
export function parseDump(text: string): DumpLine[] {
  const out: DumpLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (!line.trim() || line.startsWith('#')) continue;
    const sp = line.indexOf(' ');
    out.push(sp < 0 ? [line, ''] : [line.slice(0, sp), decodeReplyValue(line.slice(sp + 1))]);
  }
  return out;
}

/**
 * The spec for tor's option lines judged against `table`: every option whose value differs from tor's
 * compiled-in default (all with `--all`), so that what a defaults file sets (an embedded tor's start-up
 * options, Debian's service defaults) is exported too. Secret options become `${env:…}` references; options
 * the table does not know are kept as text (the spec loader then names them); hidden `__` options belong to
 * controllers and are left out.
 */
export async function specFromDump(lines: readonly DumpLine[], table: OptionTable, flags: ExportFlags): Promise<Omit<ExportedSpec, 'origin' | 'control'>> {
  const byName = new Map<string, string[]>();
  const hs: Array<[string, string | null]> = [];
  for (const [key, value] of lines) {
    if (key.startsWith('__')) continue;
    const info = table.get(key);
    // The service block: HiddenServiceDir and the lines after it (Dependent); HiddenServiceStatistics & co. are global.
    if (key.startsWith('HiddenService') && (!info || info.type === 'Dependent' || info.type === 'Virtual')) {
      if (value !== null) hs.push([key, value]);
      continue;
    }
    const name = info?.name ?? key;
    const list = byName.get(name) ?? [];
    if (value !== null) list.push(value);
    byName.set(name, list);
  }
  const geoipExcludeUnknown = byName.get('GeoIPExcludeUnknown')?.at(-1) ?? table.get('GeoIPExcludeUnknown')?.defaults[0] ?? 'auto';
  const options: ExportedOption[] = [];
  const instance: ExportedOption[] = [];
  for (const [name, values] of byName) {
    const info = table.get(name);
    // An empty line list is nothing configured (DirAuthority, FallbackDir: tor's built-in lists are used).
    if (values.every((v) => v === '') && (!info || info.type === 'LineList' || info.type === 'Dependent')) continue;
    if (info && !flags.all && isDefault(info, values)) continue;
    // Unset (`--all` only): null, the spec's "tor's default"; an unset secret has nothing to refer to.
    let value: ExportValue | null;
    if (values.every((v) => v === '')) value = null;
    // The exported spec refers to the secret instead of carrying it (a password hash is brute-forceable).
    else if (SECRET_OPTIONS.has(name)) value = `\${env:${secretEnvName(name)}}`;
    else if (info) value = exportValue(info, values, { geoipExcludeUnknown });
    else value = values.length === 1 ? values[0]! : values;
    const why = instanceReason(name);
    if (why && !flags.includeInstance) instance.push({ name, value, instance: why });
    else options.push({ name, value, ...(why ? { instance: why } : {}) });
  }
  return {
    options,
    instance,
    services: await servicesFrom(hs),
    notes: [],
  };
}

/** The options to read from a live tor, in one GETCONF: all but controllers' `__` ones, the service block as one. */
function readableOptions(table: OptionTable): string[] {
  return table
    .all()
    .filter((o) => o.type !== 'Virtual' && !o.name.startsWith('__') && !(o.type === 'Dependent' && o.name.startsWith('HiddenService')))
    .map((o) => o.name)
    .concat(table.get('HiddenServiceOptions') ? ['HiddenServiceOptions'] : []);
}

export interface LiveExportOptions extends ExportFlags {
  /** The address export reached tor at: `tor.control`. */
  control: string;
  /** Where records and keys of ephemeral services are (`--state-dir`). */
  stateDir?: string;
  /** Where client-auth credentials are written (0600); without it they are only mentioned. */
  secretsDir?: string;
  /** For `${env:}` in the specs that added ephemeral services. */
  env: Record<string, string | undefined>;
  /** A file path as the exported spec writes it (relative to the spec file when there is one). */
  rel: (file: string) => string;
}

/** A live tor as an exported spec, and the records its ephemeral services are adopted with (adoptRecords). */
export async function exportLive(client: TorClient, opts: LiveExportOptions): Promise<{ spec: ExportedSpec; records: EphemeralRecord[] }> {
  const table = await tableFor(client);
  const [entries, detachedText] = await Promise.all([client.getConfEntries(readableOptions(table)), client.getInfo('onions/detached')]);
  const spec = await specFromDump(entries, table, opts);
  const detached = detachedText.split('\n').filter(Boolean);
  const usedNames = new Set(spec.services.map((s) => String(s.name)));
  const ephemeral = await exportEphemeral(detached, { env: opts.env, rel: opts.rel, usedNames, ...(opts.stateDir ? { stateDir: opts.stateDir } : {}) });
  const auth = await exportClientAuth(client, opts.secretsDir, opts.rel);
  const out: ExportedSpec = {
    origin: `tor ${client.version} at ${opts.control}`,
    control: opts.control,
    ...spec,
    services: [...spec.services, ...ephemeral.services],
    notes: [...spec.notes, ...ephemeral.notes, ...auth.notes],
  };
  if (ephemeral.services.length && opts.stateDir) out.stateDirectory = opts.rel(opts.stateDir);
  if (auth.entries.length) out.clientAuth = auth.entries;
  return { spec: out, records: ephemeral.records };
}

async function servicesFrom(hs: ReadonlyArray<[string, string | null]>): Promise<Array<Record<string, unknown>>> {
  const used = new Set<string>();
  const services = [];
  for (const g of parseServiceBlock(hs)) {
    let name = path.basename(g.directory.replace(/\/+$/, '')).replace(/[^A-Za-z0-9_-]/g, '-') || 'service';
    for (let i = 2; used.has(name); i++) name = `${name.replace(/-\d+$/, '')}-${i}`;
    used.add(name);
    const clients = await readClients(g.directory);
    const options = g.options.map(([k, v]): [string, string | number | boolean] => [k, onionValue(k, v)]);
    services.push({
      name,
      type: 'filesystem',
      directory: g.directory,
      ports: g.ports.map(parsePortLine),
      ...(options.length ? { options: Object.fromEntries(options) } : {}),
      ...(clients.length ? { authorizedClients: clients } : {}),
    });
  }
  return services;
}

/** A per-service option in its spec type: `1` → true for booleans, decimal text → a number for integers. */
function onionValue(key: string, value: string): string | number | boolean {
  const rule = onionOption(key)?.rule;
  if (rule?.kind === 'boolean' && (value === '1' || value === '0')) return value === '1';
  if (rule?.kind === 'integer' && /^\d+$/.test(value)) return Number(value);
  return value;
}

/**
 * The control addresses a torrc's own listeners give, in `tor.control` form, control socket first (it
 * needs no network). `ControlPort 9051` listens on 127.0.0.1; `auto` and `0` name no address to write down.
 */
export function controlAddresses(lines: readonly DumpLine[]): string[] {
  const values = (name: string) => lines.filter((l): l is [string, string] => l[0].toLowerCase() === name.toLowerCase() && l[1] !== null).map(([, v]) => v);
  const out: string[] = [];
  for (const v of values('ControlSocket')) {
    const p = v.split(/\s+/)[0]!.replace(/^unix:/, '');
    if (p && p !== '0') out.push(`unix:${p}`);
  }
  for (const v of values('ControlPort')) {
    const first = v.split(/\s+/)[0]!;
    if (first.startsWith('unix:')) out.push(first);
    else if (/^\d+$/.test(first) && first !== '0') out.push(`tcp:127.0.0.1:${first}`);
    else if (/:\d+$/.test(first)) {
      try {
        parseEndpoint(`tcp:${first}`, 'control address');
        out.push(`tcp:${first}`);
      } catch {
        // An address tor accepts but the spec cannot hold is left for the user to give as --control.
      }
    }
  }
  return out;
}

/** `HTTPSProxyAuthenticator` → `TOR_HTTPS_PROXY_AUTHENTICATOR`, `__HashedControlSessionPassword` → `TOR_HASHED_CONTROL_SESSION_PASSWORD`. */
function secretEnvName(option: string): string {
  const words = option.replace(/^_+/, '').replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2');
  return `TOR_${words.toUpperCase()}`;
}

async function readClients(dir: string): Promise<Array<{ name: string; publicKey: string }>> {
  const authDir = path.join(dir, 'authorized_clients');
  const names = (await readdir(authDir).catch(() => [] as string[])).filter((n) => n.endsWith('.auth')).sort();
  const out = [];
  for (const n of names) {
    try {
      out.push({ name: n.slice(0, -5), publicKey: parseServiceAuthLine(await readFile(path.join(authDir, n), 'utf8')).publicKey });
    } catch {
      // Tor skips unparsable .auth files too; exporting one would make the spec invalid.
    }
  }
  return out;
}
