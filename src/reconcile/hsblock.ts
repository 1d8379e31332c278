/**
 * Tor's HiddenService* options are one ordered block of lines: each `HiddenServiceDir` opens a group and
 * the lines after it, up to the next `HiddenServiceDir`, belong to that service. Any SETCONF of one of them
 * replaces the whole block, so the block is read, compared and written as a unit.
 */
import path from 'node:path';
import type { ConfEntry } from '../tor/replies.js';
import type { FilesystemService, OnionPortSpec } from '../spec/model.js';

export interface ServiceGroup {
  /** As tor reports it (may be relative or end in `/` when someone else wrote it). */
  directory: string;
  /** Canonical `PORT TARGET` lines. */
  ports: string[];
  /** Every other line of the group, in order. */
  options: Array<[name: string, value: string]>;
}

/**
 * `GETCONF HiddenServiceOptions` →
 * ```
 * 250-HiddenServiceDir=/var/lib/tor/web
 * 250-HiddenServicePort=80 127.0.0.1:8080
 * 250-HiddenServiceMaxStreams=100
 * 250 HiddenServiceDir=/var/lib/tor/api
 * ```
 * An empty block is the single bare line `250 HiddenServiceOptions`.
 */
export function parseServiceBlock(entries: readonly ConfEntry[]): ServiceGroup[] {
  const groups: ServiceGroup[] = [];
  for (const [key, value] of entries) {
    if (key === 'HiddenServiceOptions' && value === null) continue;
    if (key === 'HiddenServiceDir') {
      groups.push({ directory: value ?? '', ports: [], options: [] });
      continue;
    }
    const g = groups[groups.length - 1];
    // Tor never sends group options before a HiddenServiceDir; if it did, there is no service to hang them on.
    if (!g) continue;
    if (key === 'HiddenServicePort') g.ports.push(canonicalPortLine(value ?? ''));
    else g.options.push([key, value ?? '']);
  }
  return groups;
}

/** The ordered SETCONF entries that make tor's block exactly `services`. */
export function serviceBlockEntries(services: readonly FilesystemService[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const s of services) {
    out.push(['HiddenServiceDir', s.directory]);
    for (const p of s.ports) out.push(['HiddenServicePort', portLine(p)]);
    for (const [k, v] of s.options) out.push([k, v]);
  }
  return out;
}

export function portLine(p: OnionPortSpec): string {
  return `${p.port} ${p.target}`;
}

/** The inverse of portLine, for a canonical line (`VIRTPORT TARGET`). */
export function parsePortLine(line: string): OnionPortSpec {
  const sp = line.indexOf(' ');
  return { port: Number(line.slice(0, sp)), target: line.slice(sp + 1) };
}

/**
 * Tor stores a HiddenServicePort line as written; these are equivalent to it: `80`, `80 80`,
 * `80 127.0.0.1:80`. Canonical form: `VIRTPORT HOST:PORT` or `VIRTPORT unix:PATH`.
 */
export function canonicalPortLine(line: string): string {
  const m = /^\s*(\d+)(?:\s+(\S.*?))?\s*$/.exec(line);
  if (!m) return line.trim();
  const virt = String(Number(m[1]));
  const target = m[2];
  if (target === undefined) return `${virt} 127.0.0.1:${virt}`;
  if (/^\d+$/.test(target)) return `${virt} 127.0.0.1:${Number(target)}`;
  return `${virt} ${target}`;
}

/** `/a/` and `/a` are the same service directory for us (tor would load it twice). */
export function normalizeDirectory(dir: string): string {
  if (dir.length > 1 && dir.endsWith('/')) dir = dir.replace(/\/+$/, '') || '/';
  return path.isAbsolute(dir) ? path.normalize(dir) : dir;
}
