/**
 * Tor's read-back of an option (`GETINFO config-text`, `tor --dump-config short`) as the value a person
 * would write in a spec: booleans, integers, durations and sizes in the largest unit that is exact, comma
 * and router lists as YAML lists. Pure; every value it returns goes back through `toTor` to what tor
 * stored (test/unit/export-values.test.ts checks that for each type).
 */
import { canonical, sameValue } from '../tor/config/normalize.js';
import type { OptionInfo } from '../tor/config/types.js';

/** What one exported option holds in the spec. */
export type ExportValue = string | number | boolean | Array<string | number>;

// Largest first; only units tor reads back exactly (a month is 30.437 days, so it is never chosen).
const SECONDS: ReadonlyArray<[number, string]> = [
  [604800, 'week'],
  [86400, 'day'],
  [3600, 'hour'],
  [60, 'minute'],
  [1, 'second'],
];
const MILLISECONDS: ReadonlyArray<[number, string]> = [...SECONDS.map(([n, u]): [number, string] => [n * 1000, u]), [1, 'msec']];
// tor's size units are binary (KB = 1024 bytes); these spellings are in its table as written.
const BYTES: ReadonlyArray<[bigint, string]> = [
  [1n << 40n, 'TB'],
  [1n << 30n, 'GB'],
  [1n << 20n, 'MB'],
  [1n << 10n, 'KB'],
];

/** Routerset options tor appends `{??}` to by itself (see canonical() in src/tor/config/normalize.ts). */
const AUTO_UNKNOWN_COUNTRY = new Set(['ExcludeNodes', 'ExcludeExitNodes']);

export interface ValueContext {
  /** tor's GeoIPExcludeUnknown as it runs (`auto`, `1` or `0`): whether `{??}` in Exclude* is tor's own. */
  geoipExcludeUnknown: string;
}

/** True when tor's read-back `lines` is tor's compiled-in default, which an export leaves out unless `--all`. */
export function isDefault(info: OptionInfo, lines: readonly string[]): boolean {
  return sameValue(info, lines, info.defaults);
}

/**
 * The spec value for tor's read-back `lines` of `info` (at least one line). Text tor's types cannot parse
 * is kept as text, which still compares exactly.
 */
export function exportValue(info: OptionInfo, lines: readonly string[], ctx: ValueContext): ExportValue {
  switch (info.type) {
    case 'LineList':
    case 'Dependent':
    case 'Virtual':
      return lines.length === 1 ? numeric(lines[0]!) : lines.map(numeric);
    case 'CommaList':
    case 'RouterList': {
      // canonical() always drops `{??}` (comparisons ignore it), so the items are taken from tor's text here.
      const joined = AUTO_UNKNOWN_COUNTRY.has(info.name) ? lines.filter((l) => l !== '').join(',') : (canonical(info, lines)[0] ?? '');
      let items = joined.split(',').map((i) => i.trim()).filter((i) => i !== '');
      if (AUTO_UNKNOWN_COUNTRY.has(info.name)) items = dropImpliedUnknown(items, ctx);
      return items.map(numeric);
    }
    default:
      break;
  }
  const value = canonical(info, lines)[0] ?? '';
  switch (info.type) {
    case 'Boolean':
      return booleanOf(value) ?? value;
    case 'Boolean+Auto':
      return value === 'auto' ? 'auto' : (booleanOf(value) ?? value);
    case 'Integer':
    case 'SignedInteger':
      return integerOf(value);
    case 'Float': {
      const n = Number(value);
      return Number.isFinite(n) ? n : value;
    }
    case 'TimeInterval':
      return /^\d+$/.test(value) ? withUnit(Number(value), SECONDS, 'seconds') : value;
    case 'TimeMsecInterval':
      return /^\d+$/.test(value) ? withUnit(Number(value), MILLISECONDS, 'msec') : value;
    case 'DataSize':
      return /^\d+$/.test(value) ? size(BigInt(value)) : value;
    default:
      return lines[lines.length - 1]!;
  }
}

/** `9001` rather than `"9001"`: a line or list item that is a plain number reads as one in YAML (toTor takes both). */
function numeric(text: string): string | number {
  return /^(0|[1-9]\d{0,14})$/.test(text) ? Number(text) : text;
}

function booleanOf(text: string): boolean | undefined {
  return text === '1' ? true : text === '0' ? false : undefined;
}

/** A YAML integer when it survives a JavaScript number, else its digits (the spec loader reads both). */
function integerOf(text: string): number | string {
  if (!/^-?\d+$/.test(text)) return text;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : text;
}

/** `300` → `5 minutes`, `90` → `90 seconds`, `0` → `0 seconds`: the largest unit that divides exactly. */
function withUnit(n: number, units: ReadonlyArray<[number, string]>, zeroUnit: string): string {
  if (n === 0) return `0 ${zeroUnit}`;
  for (const [size, unit] of units) {
    if (n % size !== 0) continue;
    const count = n / size;
    // tor's tables hold singular and plural for every unit but msec.
    return `${count} ${count === 1 || unit === 'msec' ? unit : `${unit}s`}`;
  }
  return `${n} ${zeroUnit}`;
}

function size(n: bigint): string {
  if (n === 0n) return '0 bytes';
  for (const [unit, name] of BYTES) if (n % unit === 0n) return `${n / unit} ${name}`;
  return `${n} bytes`;
}

/**
 * `{??}` (relays in no known country) is left out where tor adds it itself: always with GeoIPExcludeUnknown
 * 1, and with `auto` whenever the list names a country. Written or not, tor then has it, so the spec needs
 * it no more than the plan compares it.
 */
function dropImpliedUnknown(items: string[], ctx: ValueContext): string[] {
  const mode = ctx.geoipExcludeUnknown.toLowerCase();
  const namesCountry = items.some((i) => /^\{[a-z]{2}\}$/i.test(i));
  const implied = mode === '1' || (mode === 'auto' && namesCountry);
  return implied ? items.filter((i) => i !== '{??}') : items;
}
