/**
 * Spec paths back to file:line:col. The spec files are parsed again here (comments and positions are what
 * lint needs; the loader's tree is internal to src/spec). Files merge key by key with later files winning,
 * so a path is found in the last file that has all of it; option names match in any case, as the loader
 * reads them.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { SpecPath } from './types.js';

export interface SpecText {
  /** As the user gave it: what findings show. */
  name: string;
  text: string;
}

interface Parsed {
  name: string;
  text: string;
  doc: Document;
  lines: LineCounter;
}

export interface Place {
  file: string;
  line: number;
  col: number;
}

export class Locator {
  readonly #texts: readonly SpecText[];
  #parsed: Parsed[] | undefined;

  constructor(files: readonly SpecText[]) {
    this.#texts = files;
  }

  /**
   * Parsed on the first finding to place: `plan` lints every spec it plans, and a clean spec (the usual
   * case) would otherwise be parsed by yaml a second time for nothing (a 1,000-service spec: ~100 ms).
   */
  get #files(): Parsed[] {
    this.#parsed ??= this.#texts.map((f) => {
      const lines = new LineCounter();
      return { ...f, doc: parseDocument(f.text, { lineCounter: lines, uniqueKeys: false }), lines };
    });
    return this.#parsed;
  }

  /** Where `path` was written: the whole path in the last file that has it, else the deepest part found. */
  find(path: SpecPath): Place | undefined {
    let best: { depth: number; place: Place } | undefined;
    for (const f of [...this.#files].reverse()) {
      const found = walk(f, path);
      if (!found) continue;
      if (found.depth === path.length) return found.place;
      if (!best || found.depth > best.depth) best = found;
    }
    return best?.place;
  }

  /** The text of `line` (1-based) of `file`, without its line break. */
  lineText(file: string, line: number): string {
    const f = this.#texts.find((x) => x.name === file);
    return f?.text.split(/\r?\n/)[line - 1] ?? '';
  }
}

function walk(f: Parsed, path: SpecPath): { depth: number; place: Place } | undefined {
  let node: unknown = f.doc.contents;
  let place: Place | undefined;
  let depth = 0;
  for (const seg of path) {
    let next: unknown;
    let at: YamlNode | undefined;
    if (isMap(node) && typeof seg === 'string') {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value).toLowerCase() === seg.toLowerCase());
      if (!pair) break;
      next = pair.value;
      // A mapping or list is found at its key (its first entry may be lines below), and so is a key with no value.
      at = (isScalar(pair.value) ? pair.value : pair.key) as YamlNode;
    } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
      next = node.items[seg];
      at = next as YamlNode;
    } else break;
    const offset = at?.range?.[0];
    if (offset === undefined) break;
    const { line, col } = f.lines.linePos(offset);
    place = { file: f.name, line, col };
    depth += 1;
    node = next;
  }
  return place ? { depth, place } : undefined;
}
