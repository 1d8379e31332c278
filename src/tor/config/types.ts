import { ProtocolError } from '../errors.js';
import { decodeReplyValue } from '../protocol/quoting.js';
import { IMMUTABLE_OPTIONS } from './immutable.js';
import bundledData from './tor-options.json' with { type: 'json' };

/**
 * The type names `GETINFO config/names` reports (tor: src/lib/confmgt/type_defs.c, plus RouterList
 * from routerset.c). These are all that occur on tor 0.4.9; tor also defines `Time` and `Obsolete`,
 * which no listed option uses.
 *
 * - `Integer` is either 0..INT_MAX or, for the one 64-bit option (`__OwningControllerFD`), 0..2^64-1.
 * - `TimeInterval` is in seconds, `TimeMsecInterval` in milliseconds, `DataSize` in bytes; all three
 *   accept a number followed by a unit.
 * - `Dependent` options are line lists sharing one ordered list with their siblings (`HiddenService*`,
 *   `SocksPort`/`__SocksPort`); `Virtual` options are read-only views of such lists
 *   (`HiddenServiceOptions`, `SocksPortLines`) that tor refuses to set.
 */
export type OptionType =
  | 'Boolean'
  | 'Boolean+Auto'
  | 'Integer'
  | 'SignedInteger'
  | 'Float'
  | 'TimeInterval'
  | 'TimeMsecInterval'
  | 'DataSize'
  | 'String'
  | 'Filename'
  | 'LineList'
  | 'CommaList'
  | 'RouterList'
  | 'Dependent'
  | 'Virtual';

const OPTION_TYPES: ReadonlySet<string> = new Set<OptionType>([
  'Boolean',
  'Boolean+Auto',
  'Integer',
  'SignedInteger',
  'Float',
  'TimeInterval',
  'TimeMsecInterval',
  'DataSize',
  'String',
  'Filename',
  'LineList',
  'CommaList',
  'RouterList',
  'Dependent',
  'Virtual',
]);

export interface OptionInfo {
  /** Canonical spelling, as config/names lists it. */
  readonly name: string;
  readonly type: OptionType;
  /** tor's compiled-in default, one entry per config line, in tor's textual form (`"10 minutes"`). */
  readonly defaults: readonly string[];
  /** tor refuses to change it while running (553); see IMMUTABLE_OPTIONS. */
  readonly immutable: boolean;
}

interface RawOption {
  name: string;
  type: string;
  defaults: string[];
}

let bundledTable: OptionTable | undefined;

/** The options a tor knows, looked up the way tor-reconcile needs: exact names only. */
export class OptionTable {
  /** The tor version the table came from, when known. */
  readonly torVersion: string | undefined;
  readonly #options: readonly OptionInfo[];
  readonly #byLowerName: ReadonlyMap<string, OptionInfo>;

  private constructor(torVersion: string | undefined, raw: readonly RawOption[]) {
    this.torVersion = torVersion;
    this.#options = raw.map((o) => {
      return Object.freeze({
        name: o.name,
        // A type a newer tor invents is compared as text: equal text is always equal to tor, so the worst
        // case is a needless SETCONF, never a missed difference.
        type: OPTION_TYPES.has(o.type) ? (o.type as OptionType) : 'String',
        defaults: Object.freeze([...o.defaults]),
        immutable: IMMUTABLE_OPTIONS.has(o.name),
      });
    });
    this.#byLowerName = new Map(this.#options.map((o) => [o.name.toLowerCase(), o]));
  }

  /** The table generated from tor 0.4.9.11 (scripts/gen-tor-options.mjs), built once. */
  static bundled(): OptionTable {
    bundledTable ??= new OptionTable(bundledData.torVersion, bundledData.options);
    return bundledTable;
  }

  /**
   * Builds a table from a live tor's answers: the data blocks of `GETINFO config/names` (`Name Type`
   * per line) and `GETINFO config/defaults` (`Name Value` per line, the value C-quoted on 0.4.9, raw on
   * older tors; one line per default line, e.g. 200 FallbackDir lines). Defaults of names that
   * config/names does not list (`___UsingTestNetworkDefaults`) are dropped.
   */
  static fromTor(configNames: string, configDefaults: string, torVersion?: string): OptionTable {
    const defaults = new Map<string, string[]>();
    for (const line of configDefaults.split(/\r?\n/)) {
      if (line === '') continue;
      const space = line.indexOf(' ');
      const name = space < 0 ? line : line.slice(0, space);
      const value = decodeReplyValue(space < 0 ? '' : line.slice(space + 1));
      const list = defaults.get(name);
      if (list) list.push(value);
      else defaults.set(name, [value]);
    }
    const raw: RawOption[] = [];
    for (const line of configNames.split(/\r?\n/)) {
      if (line === '') continue;
      const m = /^(\S+) (\S+)/.exec(line);
      if (!m) throw new ProtocolError('malformed config/names line (expected "Name Type")', line);
      raw.push({ name: m[1]!, type: m[2]!, defaults: defaults.get(m[1]!) ?? [] });
    }
    return new OptionTable(torVersion, raw);
  }

  /**
   * The canonical spelling of `name`, matched case-insensitively but never as an abbreviation:
   * tor itself would read `b` as BandwidthBurst, which is exactly the surprise this avoids.
   */
  canonical(name: string): string | undefined {
    return this.#byLowerName.get(name.toLowerCase())?.name;
  }

  /** The option called `name` (case-insensitive, exact). */
  get(name: string): OptionInfo | undefined {
    return this.#byLowerName.get(name.toLowerCase());
  }

  /**
   * Up to three likely meant option names for an unknown `name`, best first: close by edit distance
   * (typos, a missing `s`) or starting like it (`Bandwith` → BandwidthBurst, BandwidthRate). Hidden
   * `__` options are only offered when `name` starts with `_` or is their name without the underscores.
   */
  suggest(name: string): string[] {
    const query = name.toLowerCase();
    if (query.length === 0) return [];
    const limit = query.length < 4 ? 1 : query.length < 8 ? 2 : 3;
    const scored: Array<{ name: string; score: number }> = [];
    for (const o of this.#options) {
      const candidate = o.name.toLowerCase();
      if (candidate.startsWith('__') && !query.startsWith('_')) {
        if (candidate.replace(/^_+/, '') === query) scored.push({ name: o.name, score: 0 });
        continue;
      }
      let score = editDistance(query, candidate);
      // A prefix typed with a slip still counts, one step behind an equally close whole name.
      if (query.length >= 4 && candidate.length > query.length) {
        score = Math.min(score, editDistance(query, candidate.slice(0, query.length)) + 1);
      }
      if (score <= limit) scored.push({ name: o.name, score });
    }
    scored.sort((a, b) => a.score - b.score || a.name.length - b.name.length || a.name.localeCompare(b.name));
    return scored.slice(0, 3).map((s) => s.name);
  }

  /** Every option, in tor's order. */
  all(): OptionInfo[] {
    return [...this.#options];
  }
}

/** Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}
