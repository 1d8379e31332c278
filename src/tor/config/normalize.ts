/**
 * Values of tor options, per type: what to send for a value written in YAML (`toTor`), and a
 * comparison form for what tor reads back (`canonical`), so that a desired value and tor's read-back
 * compare equal exactly when tor stores the same thing.
 *
 * A value is `string[]`, one entry per config line as GETCONF returns them (already unquoted); `[]`
 * is unset/empty (GETCONF's `Key=` and bare `Key`).
 *
 * Parsing mirrors tor 0.4.9 (src/lib/confmgt/unitparse.c, type_defs.c, parse_int.c) and was checked
 * against tor 0.4.9.11; test/unit/config.test.ts holds the observed input → read-back pairs.
 *
 * What this cannot know: tor's validation also clamps some values after parsing
 * (`MaxCircuitDirtiness 0` reads back as 10, `PathsNeededToBuildCircuits 0.1` as 0.25, values over
 * 30 days in MaxCircuitDirtiness as 2592000, bandwidths of exactly `2 GB` as 2147483647) and rejects
 * others outright (`BandwidthRate` above 2147483647 bytes, or above BandwidthBurst). Such values never compare equal to their read-back;
 * they are per-option policy, not type semantics, and are left to tor's own error or to the caller.
 */
import type { OptionInfo } from './types.js';

/** A value tor would not accept for the option, or one that cannot be meant (`true` for a port count). */
export class ValueError extends Error {
  override name = 'ValueError';
  constructor(
    /** Canonical name of the option the value was for. */
    readonly option: string,
    message: string,
  ) {
    super(`${option}: ${message}`);
  }
}

/** What a YAML document can give for an option. */
export type InputValue = string | number | boolean | null | Array<string | number | boolean>;

const INT_MAX = 2147483647n;
const INT_MIN = -2147483648n;
const INT64_MAX = 9223372036854775807n;
const UINT64_MAX = 18446744073709551615n;

interface UnitKind {
  units: ReadonlyMap<string, bigint>;
  max: bigint;
  base: string;
  expected: string;
  knownUnits: string;
}

function unitTable(entries: Record<string, number | bigint>): ReadonlyMap<string, bigint> {
  return new Map(Object.entries(entries).map(([k, v]) => [k, BigInt(v)]));
}

// tor's tables, matched case-insensitively and whole: `1 min`, `1 ms`, `100 K`, `1 KiB` are refused.
const DURATION: UnitKind = {
  units: unitTable({
    '': 1, second: 1, seconds: 1, minute: 60, minutes: 60, hour: 3600, hours: 3600, day: 86400, days: 86400,
    week: 604800, weeks: 604800, month: 2629728, months: 2629728, // tor's month is 30.437 days
  }),
  max: INT_MAX,
  base: 'seconds',
  expected: 'a duration such as `10 minutes` or a number of seconds',
  knownUnits: 'second, minute, hour, day, week, month (singular or plural)',
};

const MSEC_DURATION: UnitKind = {
  units: unitTable({
    '': 1, msec: 1, millisecond: 1, milliseconds: 1, second: 1000, seconds: 1000, minute: 60000, minutes: 60000,
    hour: 3600000, hours: 3600000, day: 86400000, days: 86400000, week: 604800000, weeks: 604800000,
  }),
  max: INT_MAX,
  base: 'milliseconds',
  expected: 'a duration such as `100 msec` or `2 seconds`, or a number of milliseconds',
  knownUnits: 'msec, millisecond, second, minute, hour, day, week (singular or plural; no months)',
};

const KB = 1n << 10n, MB = 1n << 20n, GB = 1n << 30n, TB = 1n << 40n;
// Binary multiples throughout: KB is 1024 bytes, and a kbit is 1024 bits = 128 bytes.
const SIZE: UnitKind = {
  units: unitTable({
    '': 1, b: 1, byte: 1, bytes: 1,
    kb: KB, kbyte: KB, kbytes: KB, kilobyte: KB, kilobytes: KB, kilobits: KB / 8n, kilobit: KB / 8n, kbits: KB / 8n, kbit: KB / 8n,
    m: MB, mb: MB, mbyte: MB, mbytes: MB, megabyte: MB, megabytes: MB, megabits: MB / 8n, megabit: MB / 8n, mbits: MB / 8n, mbit: MB / 8n,
    gb: GB, gbyte: GB, gbytes: GB, gigabyte: GB, gigabytes: GB, gigabits: GB / 8n, gigabit: GB / 8n, gbits: GB / 8n, gbit: GB / 8n,
    tb: TB, tbyte: TB, tbytes: TB, terabyte: TB, terabytes: TB, terabits: TB / 8n, terabit: TB / 8n, tbits: TB / 8n, tbit: TB / 8n,
  }),
  max: INT64_MAX,
  base: 'bytes',
  expected: 'a size such as `1 MB`, `100 KBytes` or `8 mbits`, or a number of bytes',
  knownUnits: 'bytes, KB, MB, GB, TB and kbits, mbits, gbits, tbits (also spelled out; K, KiB are not units)',
};

/** C isspace(): what strtol/strtod skip before a number. */
const C_SPACE = /^[ \t\n\v\f\r]*/;

/**
 * tor's config_parse_units(): an unsigned integer (strtoull) unless that fails or a `.` follows, then a
 * double (strtod); optional spaces; a unit from the table. A double is multiplied then truncated
 * (`1.5 hours` = 5400, `100.7` = 100). Returns the value or why it is refused.
 */
function parseUnits(text: string, kind: UnitKind): bigint | string {
  const body = text.slice(C_SPACE.exec(text)![0].length);
  let whole: bigint | undefined;
  let fraction: number | undefined;
  let rest: string;
  const int = /^([+-]?)(\d+)/.exec(body);
  if (int && body[int[0].length] !== '.' && BigInt(int[2]!) <= UINT64_MAX) {
    whole = BigInt(int[2]!);
    if (int[1] === '-' && whole !== 0n) return 'must not be negative';
    rest = body.slice(int[0].length);
  } else {
    const float = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(body) ?? /^[+-]?inf(?:inity)?/i.exec(body);
    if (!float) return 'not a number';
    fraction = /inf/i.test(float[0]) ? (float[0].startsWith('-') ? -Infinity : Infinity) : Number(float[0]);
    rest = body.slice(float[0].length);
  }
  const unit = asciiLower(rest.replace(/^[ \t\n\r]*/, ''));
  const multiplier = kind.units.get(unit);
  if (multiplier === undefined) return `unknown unit \`${unit}\`; tor knows ${kind.knownUnits}`;
  let value: bigint;
  if (whole !== undefined) {
    value = whole * multiplier;
    if (value > INT64_MAX) return 'too large';
  } else {
    const product = fraction! * Number(multiplier);
    if (product < 0) return 'must not be negative';
    if (product >= 2 ** 63) return 'too large';
    value = BigInt(Math.trunc(product));
  }
  if (value > kind.max) return `too large (at most ${kind.max} ${kind.base})`;
  return value;
}

/** tor compares with strcasecmp(): ASCII only, so `K` (Kelvin sign) is not `k`. */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** strtol/strtoull over the whole string: leading spaces and a sign allowed, nothing after the digits. */
function parseInteger(text: string): bigint | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)$/.exec(text);
  return m ? BigInt(m[1]!) : undefined;
}

function integerRange(info: OptionInfo): [bigint, bigint] {
  if (info.type === 'SignedInteger') return [INT_MIN, INT_MAX];
  // config/names calls both POSINT and UINT64 "Integer"; only the 64-bit one has a default beyond INT_MAX.
  const wide = info.defaults.some((d) => (parseInteger(d) ?? 0n) > INT_MAX);
  return [0n, wide ? UINT64_MAX : INT_MAX];
}

/** strtod over the whole string, as tor 0.4.9 parses Float options (trailing text is an error). */
function parseDouble(text: string): number | undefined {
  const body = text.slice(C_SPACE.exec(text)![0].length);
  if (/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(body)) {
    const n = Number(body);
    return Number.isFinite(n) ? n : undefined;
  }
  if (/^[+-]?inf(?:inity)?$/i.test(body)) return body.startsWith('-') ? -Infinity : Infinity;
  if (/^[+-]?nan$/i.test(body)) return NaN;
  return undefined;
}

/**
 * printf("%f", x) as glibc does it, which is how tor prints a Float: exactly six decimals of the
 * double's exact binary value, ties to even (0.0078125 → 0.007812, 0.1234565 → 0.123456).
 */
function formatFixed6(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(x));
  const bits = view.getBigUint64(0);
  const biasedExp = Number(bits >> 52n);
  let mantissa = bits & ((1n << 52n) - 1n);
  if (biasedExp !== 0) mantissa |= 1n << 52n;
  const exp = (biasedExp === 0 ? 1 : biasedExp) - 1075; // |x| = mantissa * 2^exp
  let micros: bigint;
  if (exp >= 0) micros = (mantissa << BigInt(exp)) * 1_000_000n;
  else {
    const den = 1n << BigInt(-exp);
    const num = mantissa * 1_000_000n;
    micros = num / den;
    const twice = (num % den) * 2n;
    if (twice > den || (twice === den && micros % 2n === 1n)) micros += 1n;
  }
  const digits = micros.toString().padStart(7, '0');
  return `${sign}${digits.slice(0, -6)}.${digits.slice(-6)}`;
}

function show(input: InputValue): string {
  if (Array.isArray(input)) return 'a list';
  return `\`${String(input)}\``;
}

function single(info: OptionInfo, input: Exclude<InputValue, null>): string | number | boolean {
  if (Array.isArray(input)) throw new ValueError(info.name, `takes a single value, got a list`);
  return input;
}

/** Config lines can hold neither line breaks nor NUL (and SAVECONF would write a broken torrc). */
function checkText(info: OptionInfo, text: string): string {
  if (/[\r\n\0]/.test(text)) throw new ValueError(info.name, `values cannot contain line breaks or NUL bytes, got ${JSON.stringify(text)}`);
  return text;
}

function toText(info: OptionInfo, value: string | number | boolean, expected: string): string {
  if (typeof value === 'boolean') throw new ValueError(info.name, `expected ${expected}, got ${show(value)}`);
  return checkText(info, typeof value === 'number' ? String(value) : value);
}

function unitsToTor(info: OptionInfo, value: string | number | boolean, kind: UnitKind): string {
  let parsed: bigint | string;
  if (typeof value === 'boolean') parsed = 'not a number';
  else if (typeof value === 'number') {
    if (!Number.isFinite(value)) parsed = 'not a number';
    else if (value < 0) parsed = 'must not be negative';
    else parsed = parseUnits(BigInt(Math.trunc(value)).toString(), kind);
  } else parsed = parseUnits(value.trim(), kind);
  if (typeof parsed === 'string') throw new ValueError(info.name, `expected ${kind.expected}, got ${show(value)} (${parsed})`);
  return parsed.toString();
}

function integerToTor(info: OptionInfo, value: string | number | boolean): string {
  const [min, max] = integerRange(info);
  const expected = `a whole number from ${min} to ${max}`;
  let n: bigint | undefined;
  if (typeof value === 'number') n = Number.isInteger(value) ? BigInt(value) : undefined;
  else if (typeof value === 'string') n = parseInteger(value.trim());
  if (n === undefined || n < min || n > max) throw new ValueError(info.name, `expected ${expected}, got ${show(value)}`);
  return n.toString();
}

function floatToTor(info: OptionInfo, value: string | number | boolean): string {
  let n: number | undefined;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(value.trim())) n = Number(value.trim());
  if (n === undefined || !Number.isFinite(n)) throw new ValueError(info.name, `expected a number such as \`0.5\`, got ${show(value)}`);
  // The shortest text that parses back to the same double: tor stores what the user meant, even
  // where its six-decimal read-back cannot show it. String(-0) would drop the sign tor prints.
  return Object.is(n, -0) ? '-0' : String(n);
}

function booleanToTor(info: OptionInfo, value: string | number | boolean, allowAuto: boolean): string {
  if (value === true || value === 1) return '1';
  if (value === false || value === 0) return '0';
  if (typeof value === 'string') {
    const word = asciiLower(value.trim());
    if (word === '1' || word === 'true') return '1';
    if (word === '0' || word === 'false') return '0';
    if (allowAuto && word === 'auto') return 'auto';
  }
  const expected = allowAuto ? 'true, false or auto (or 1/0)' : 'true or false (or 1/0)';
  throw new ValueError(info.name, `expected ${expected}, got ${show(value)}`);
}

/** tor's CSV parsing (smartlist_split_string with SKIP_SPACE|IGNORE_BLANK), joined back with commas. */
function commaItems(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, ''))
    .filter((s) => s !== '');
}

function listToTor(info: OptionInfo, input: Exclude<InputValue, null>, expected: string): string[] {
  const parts = Array.isArray(input) ? input : [input];
  const items = parts.flatMap((p) => commaItems(toText(info, p, expected)));
  return items.length ? [items.join(',')] : [];
}

function linesToTor(info: OptionInfo, input: Exclude<InputValue, null>): string[] {
  if (!Array.isArray(input)) {
    const line = toText(info, input, 'text or a list of lines');
    return line === '' ? [] : [line];
  }
  return input.map((p) => {
    const line = toText(info, p, 'text or a list of lines');
    if (line === '') throw new ValueError(info.name, 'list entries must not be empty');
    return line;
  });
}

/**
 * The values to send in SETCONF for `input`, in the form tor reads back where it has one: booleans as
 * `1`/`0`, durations in seconds (milliseconds for TimeMsecInterval), sizes in bytes, comma lists and
 * router lists joined without spaces. `[]` (from `null`, `""` or an empty list) means a bare `SETCONF Key`,
 * which clears the option to 0/empty; restoring tor's default is RESETCONF's job, not a value.
 *
 * Only line lists (LineList, Dependent) take several values; CommaList and RouterList accept a list
 * or one comma-separated string. Throws ValueError for a value tor would refuse or that cannot be meant:
 * the wrong kind (`true` for an Integer), an unknown unit, a negative or out-of-range number,
 * line breaks, or any value for a Virtual option.
 */
export function toTor(info: OptionInfo, input: InputValue): string[] {
  if (info.type === 'Virtual') {
    throw new ValueError(info.name, 'is a read-only view of related options and cannot be set; set those options instead');
  }
  if (input === null) return [];
  switch (info.type) {
    case 'LineList':
    case 'Dependent':
      return linesToTor(info, input);
    case 'CommaList':
      return listToTor(info, input, 'a comma-separated list');
    case 'RouterList':
      return listToTor(info, input, 'a list of relays (nicknames, $fingerprints, {country codes}, addresses)');
    default:
      break;
  }
  const value = single(info, input);
  if (value === '') return [];
  switch (info.type) {
    case 'Boolean':
      return [booleanToTor(info, value, false)];
    case 'Boolean+Auto':
      return [booleanToTor(info, value, true)];
    case 'Integer':
    case 'SignedInteger':
      return [integerToTor(info, value)];
    case 'Float':
      return [floatToTor(info, value)];
    case 'TimeInterval':
      return [unitsToTor(info, value, DURATION)];
    case 'TimeMsecInterval':
      return [unitsToTor(info, value, MSEC_DURATION)];
    case 'DataSize':
      return [unitsToTor(info, value, SIZE)];
    case 'String':
    case 'Filename':
      return [toText(info, value, 'text')];
  }
}

/** Routerset entries tor appends to these by itself, depending on GeoIPExcludeUnknown. */
const AUTO_UNKNOWN_COUNTRY = new Set(['ExcludeNodes', 'ExcludeExitNodes']);

/**
 * The comparison form of `values` as tor reads them back (or any textual form tor accepts): numbers in
 * tor's units as decimal text, floats as tor prints them (six decimals), `auto` lowercased, comma and
 * router lists without blanks or spaces. Scalars and comma lists use the last value, as tor does when a
 * key repeats (router lists append); an empty scalar is what a bare SETCONF stores (0, `0.000000`, or unset for text). Text that does not
 * parse is kept as it is, so it still compares exactly.
 *
 * Deliberate looseness: in ExcludeNodes/ExcludeExitNodes `{??}` (relays in no known country) is
 * ignored, because tor appends it itself whenever the list names a country and GeoIPExcludeUnknown is
 * `auto` (and always when it is 1), so `{cn}` reads back as `{cn},{??}`. To exclude unknown-country
 * relays, set GeoIPExcludeUnknown 1 rather than listing `{??}`.
 */
export function canonical(info: OptionInfo, torValues: readonly string[]): string[] {
  const present = torValues.filter((v) => v !== '');
  switch (info.type) {
    case 'LineList':
    case 'Dependent':
    case 'Virtual':
      return present;
    case 'String':
    case 'Filename':
      return present.length ? [present[present.length - 1]!] : [];
    case 'CommaList': {
      const items = present.length ? commaItems(present[present.length - 1]!) : [];
      return items.length ? [items.join(',')] : [];
    }
    case 'RouterList': {
      // Unlike a comma list, a repeated router-list key appends: `ExitNodes={us} ExitNodes={de}` is {us},{de}.
      let items = present.flatMap(commaItems);
      if (AUTO_UNKNOWN_COUNTRY.has(info.name)) items = items.filter((i) => i !== '{??}');
      return items.length ? [items.join(',')] : [];
    }
    default:
      break;
  }
  const last = present[present.length - 1];
  switch (info.type) {
    case 'Boolean':
      return [last ?? '0'];
    case 'Boolean+Auto':
      return [last !== undefined && asciiLower(last) === 'auto' ? 'auto' : (last ?? '0')];
    case 'Integer':
    case 'SignedInteger': {
      if (last === undefined) return ['0'];
      return [parseInteger(last)?.toString() ?? last];
    }
    case 'Float': {
      if (last === undefined) return [formatFixed6(0)];
      const n = parseDouble(last);
      return [n === undefined ? last : formatFixed6(n)];
    }
    case 'TimeInterval':
    case 'TimeMsecInterval':
    case 'DataSize': {
      if (last === undefined) return ['0'];
      const kind = info.type === 'DataSize' ? SIZE : info.type === 'TimeInterval' ? DURATION : MSEC_DURATION;
      // *DownloadInitialDelay options still accept a legacy schedule list; tor keeps its first entry.
      const text = info.type === 'TimeInterval' ? last.split(',')[0]! : last;
      const parsed = parseUnits(text, kind);
      return [typeof parsed === 'string' ? last : parsed.toString()];
    }
  }
}

/** True when `a` and `b` are the same setting for tor (see canonical()). */
export function sameValue(info: OptionInfo, a: readonly string[], b: readonly string[]): boolean {
  const ca = canonical(info, a);
  const cb = canonical(info, b);
  return ca.length === cb.length && ca.every((v, i) => v === cb[i]);
}
