/**
 * What every section of the normalizer shares: lookups in the positioned tree that skip what is already
 * reported as broken (so each mistake is reported once), positions as messages show them, errors at a place.
 */
import path from 'node:path';
import type { SourcePos } from '../model.js';
import { OnionAddressError, parseOnionAddress } from '../../tor/onion/address.js';
import type { Diagnostics, Loc, Path } from '../diagnostics.js';
import { locate, pathLabel, type ScalarNode, type SpecNode } from '../tree.js';

/** A check that a name, a port, a directory… is given only once; see SpecReader.uniqueBy. */
export interface Unique<K, V> {
  /**
   * True the first time `key` is given, remembering `first`; after that false, once `at` has been
   * reported as a duplicate (and `p` marked broken).
   */
  add(key: K, at: Loc, p: Path, first: V): boolean;
  /** What `add` remembered for each key, in the order the keys were first given. */
  readonly seen: ReadonlyMap<K, V>;
}

export class SpecReader {
  constructor(
    readonly root: SpecNode,
    readonly diags: Diagnostics,
  ) {}

  node(p: Path): SpecNode | undefined {
    if (this.diags.hasErrorAt(p)) return undefined;
    const found = locate(this.root, p);
    return found.depth === p.length ? found.node : undefined;
  }

  entry(p: Path) {
    if (this.diags.hasErrorAt(p)) return undefined;
    const found = locate(this.root, p);
    return found.depth === p.length ? found.entry : undefined;
  }

  scalar(p: Path): ScalarNode | undefined {
    const n = this.node(p);
    return n?.kind === 'scalar' && n.value !== null ? n : undefined;
  }

  /** Text at `p`, if it is there and sound. */
  str(p: Path): string | undefined {
    const value = this.scalar(p)?.value;
    return typeof value === 'string' ? value : undefined;
  }

  /** One string or a list of them at `p`. */
  strings(p: Path): string[] | undefined {
    const n = this.node(p);
    if (!n) return undefined;
    const items = n.kind === 'seq' ? n.items : [n];
    return items.filter((i): i is ScalarNode => i.kind === 'scalar' && i.value !== null).map((i) => String(i.value));
  }

  /** The items of the list at `p` that are sound, with their paths. */
  items(p: Path): Array<{ item: SpecNode; p: Path }> {
    const list = this.node(p);
    if (list?.kind !== 'seq') return [];
    return list.items.map((item, j) => ({ item, p: [...p, j] })).filter((x) => !this.diags.isBroken(x.p));
  }

  keyLoc(p: Path): Loc {
    const found = locate(this.root, p);
    return found.entry?.keyLoc ?? found.node.loc;
  }

  error(loc: Loc, message: string, p?: Path): void {
    this.diags.error(loc, message, p);
  }

  /**
   * The one way a spec section checks that something is given once. `message` says why a duplicate `key`
   * at `p` is refused, given what `add` remembered for its first occurrence (its place, or its service).
   */
  uniqueBy<K, V = Loc>(message: (key: K, first: V, p: Path) => string): Unique<K, V> {
    const seen = new Map<K, V>();
    return {
      seen,
      add: (key, at, p, first) => {
        const earlier = seen.get(key);
        if (earlier === undefined) {
          seen.set(key, first);
          return true;
        }
        this.error(at, message(key, earlier, p), p);
        return false;
      },
    };
  }

  /** Absolute, against the directory of the file the value is written in; `~` is refused, not guessed. */
  resolvePath(node: ScalarNode, p: Path): string | undefined {
    const text = String(node.value);
    if (text.startsWith('~')) {
      this.error(node.loc, `${pathLabel(p)}: "~" is not expanded; write the full path, or one relative to this spec file`, p);
      return undefined;
    }
    return path.resolve(node.loc.source.dir, text);
  }

  onionAddress(p: Path): string | undefined {
    const node = this.scalar(p);
    if (!node) return undefined;
    try {
      // Checksum and version only: a pin is compared with the service's key, and a client-auth address is
      // checked again by tor, so the millisecond-per-address curve checks would only slow validation.
      return parseOnionAddress(String(node.value), { verifyPoint: false }).address;
    } catch (err) {
      if (!(err instanceof OnionAddressError)) throw err;
      this.error(node.loc, `${pathLabel(p)}: ${err.message}`, p);
      return undefined;
    }
  }
}

export function pos(loc: Loc): SourcePos {
  const { line, col } = loc.source.lines.linePos(loc.start);
  return { file: loc.source.name, line, col };
}

/** `file:line:col`, as messages name an earlier place. */
export function where(loc: Loc): string {
  const { file, line, col } = pos(loc);
  return `${file}:${line}:${col}`;
}
