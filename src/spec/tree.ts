/**
 * YAML documents as a small tree of mappings, lists and scalars in which every node remembers where it was
 * written. Merging several files keeps each value's own position, so an error in a value that came from
 * `prod.yaml` points into `prod.yaml`.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { Diagnostics, Loc, Path, SourceFile } from './diagnostics.js';

export type SpecNode = MapNode | SeqNode | ScalarNode;

export interface MapEntry {
  key: string;
  keyLoc: Loc;
  value: SpecNode;
}

export interface MapNode {
  kind: 'map';
  loc: Loc;
  entries: Map<string, MapEntry>;
}

export interface SeqNode {
  kind: 'seq';
  loc: Loc;
  items: SpecNode[];
}

export type ScalarValue = string | number | boolean | null;

export interface ScalarNode {
  kind: 'scalar';
  loc: Loc;
  value: ScalarValue;
  /** The source text of a number (YAML loses precision beyond 2^53; tor's 64-bit options need the digits). */
  text: string | undefined;
  /** Came from `${env:}`/`${file:}`: never shown, never left as plain text in the desired state. */
  secret: boolean;
  /** Holds a secret even though written literally (a password, a private key): never shown either. */
  sensitive: boolean;
}

/** Beyond this, aliases are expanding out of proportion ("billion laughs"): refuse rather than hang. */
const MAX_ALIAS_NODES = 10_000;
const MAX_SYNTAX_ERRORS = 10;
/** yaml's codes for a key it read as part of the line before (usually: the key is indented too far). */
const IMPLICIT_KEY_CODES = new Set(['BLOCK_AS_IMPLICIT_KEY', 'MULTILINE_IMPLICIT_KEY']);
/** No spec needs more; far deeper input is an attack or an accident, and recursion must stay bounded. */
const MAX_DEPTH = 64;

/** A source whose line counter parseSource fills. */
export function sourceFile(name: string, path: string, dir: string, text: string): SourceFile {
  return { name, path, dir, text, lines: new LineCounter() };
}

/**
 * Parses one file. Returns undefined when the YAML itself is malformed (those errors are recorded): a
 * half-parsed document would only produce misleading schema errors. An empty document is an empty mapping,
 * so an overlay file may be empty.
 */
export function parseSource(source: SourceFile, diags: Diagnostics): SpecNode | undefined {
  // Duplicate keys are reported by `convert` with both positions; yaml's own check names only the second.
  const doc = parseDocument(source.text, { lineCounter: source.lines, uniqueKeys: false, prettyErrors: false, strict: true });
  // Unknown tags and the like are warnings to yaml; in a spec they are mistakes.
  const problems = syntaxProblems(source.text, [...doc.errors, ...doc.warnings]);
  // After the first few, syntax errors are mostly echoes of the first ones.
  for (const p of problems.slice(0, MAX_SYNTAX_ERRORS)) {
    const message = p.code === 'MULTIPLE_DOCS' ? 'a spec file holds one document; put further documents in files of their own, given in order' : firstLine(p.message);
    diags.error(at(source, p.start, p.end), `invalid YAML: ${message}`);
  }
  if (problems.length > MAX_SYNTAX_ERRORS) {
    const last = problems[MAX_SYNTAX_ERRORS]!;
    diags.error(at(source, last.start, last.end), `invalid YAML: ${problems.length - MAX_SYNTAX_ERRORS} more syntax errors not shown`);
  }
  if (problems.length) return undefined;
  if (doc.contents === null) return { kind: 'map', loc: at(source, 0, 0), entries: new Map() };
  return convert(doc.contents, { doc, source, diags, aliasNodes: 0, inAlias: false, aliasReported: false }, []);
}

/**
 * yaml's problems, one per place. yaml reports one mistake several times from the same start (an over-indented
 * key is both a nested compact mapping and a multi-line implicit key), so problems starting at the same offset
 * are one. For an implicit key that runs over several lines, the range starts at the value before the
 * mistake: the mistake is on the last of those lines (the over-indented key), and the problem is placed there.
 */
function syntaxProblems(text: string, found: ReadonlyArray<{ code: string; message: string; pos: [number, number] }>) {
  const byStart = new Map<number, { code: string; message: string; start: number; end: number }>();
  for (const p of [...found].sort((a, b) => a.pos[0] - b.pos[0])) {
    const seen = byStart.get(p.pos[0]);
    if (seen) seen.end = Math.max(seen.end, p.pos[1]);
    else byStart.set(p.pos[0], { code: p.code, message: p.message, start: p.pos[0], end: p.pos[1] });
  }
  return [...byStart.values()].map((p) => {
    const lastLine = text.lastIndexOf('\n', p.end - 1);
    if (!IMPLICIT_KEY_CODES.has(p.code) || lastLine < p.start) return p;
    const indent = /^[ \t]*/.exec(text.slice(lastLine + 1))![0].length;
    return { ...p, start: lastLine + 1 + indent };
  });
}

function firstLine(message: string): string {
  // The parser recurses on nesting and reports its own stack overflow as a parse error.
  if (message.includes('Maximum call stack')) return 'nested too deeply';
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

function at(source: SourceFile, start: number, end: number): Loc {
  return { source, start, end };
}

interface ConvertContext {
  doc: Document.Parsed;
  source: SourceFile;
  diags: Diagnostics;
  aliasNodes: number;
  inAlias: boolean;
  aliasReported: boolean;
}

function locOf(node: YamlNode, ctx: ConvertContext, fallback?: Loc): Loc {
  const range = node.range;
  if (!range) return fallback ?? at(ctx.source, 0, 0);
  return at(ctx.source, range[0], range[1]);
}

function nullAt(loc: Loc): ScalarNode {
  return { kind: 'scalar', loc, value: null, text: undefined, secret: false, sensitive: false };
}

/** `path` is where the node sits in this file, so that later stages skip what could not be converted. */
function convert(node: unknown, ctx: ConvertContext, path: Path, fallback?: Loc): SpecNode {
  if (node === null || node === undefined) return nullAt(fallback ?? at(ctx.source, 0, 0));
  const yamlNode = node as YamlNode;
  const loc = locOf(yamlNode, ctx, fallback);
  if (path.length > MAX_DEPTH) {
    ctx.diags.error(loc, `nested more than ${MAX_DEPTH} levels deep`, path);
    return nullAt(loc);
  }
  if (ctx.inAlias && ++ctx.aliasNodes > MAX_ALIAS_NODES) {
    if (!ctx.aliasReported) ctx.diags.error(loc, `aliases expand to more than ${MAX_ALIAS_NODES} values; write the values out instead`, path);
    ctx.aliasReported = true;
    return nullAt(loc);
  }
  if (isAlias(yamlNode)) {
    const target = yamlNode.resolve(ctx.doc);
    if (!target) {
      ctx.diags.error(loc, `unknown alias *${yamlNode.source}`, path);
      return nullAt(loc);
    }
    const outer = ctx.inAlias;
    ctx.inAlias = true;
    const result = convert(target, ctx, path, loc);
    ctx.inAlias = outer;
    return result;
  }
  if (isMap(yamlNode)) {
    const entries = new Map<string, MapEntry>();
    for (const pair of yamlNode.items) {
      const keyNode = pair.key as YamlNode | null;
      const keyLoc = keyNode ? locOf(keyNode, ctx, loc) : loc;
      if (!isScalar(keyNode) || keyNode.value === null || typeof keyNode.value === 'object') {
        ctx.diags.error(keyLoc, 'a mapping key must be a plain name, not empty, a list or a mapping', path);
        continue;
      }
      const key = String(keyNode.value);
      const first = entries.get(key);
      if (first) {
        const { line, col } = ctx.source.lines.linePos(first.keyLoc.start);
        ctx.diags.error(keyLoc, `duplicate key "${key}": already given at line ${line}, column ${col}`, [...path, key]);
        continue;
      }
      entries.set(key, { key, keyLoc, value: convert(pair.value, ctx, [...path, key], at(ctx.source, keyLoc.end, keyLoc.end)) });
    }
    return { kind: 'map', loc, entries };
  }
  if (isSeq(yamlNode)) {
    return { kind: 'seq', loc, items: yamlNode.items.map((item, i) => convert(item, ctx, [...path, i], loc)) };
  }
  if (isScalar(yamlNode)) {
    const v = yamlNode.value;
    if (typeof v === 'number') return { kind: 'scalar', loc, value: v, text: yamlNode.source, secret: false, sensitive: false };
    if (typeof v === 'string' || typeof v === 'boolean' || v === null) {
      return { kind: 'scalar', loc, value: v, text: undefined, secret: false, sensitive: false };
    }
  }
  ctx.diags.error(loc, 'unsupported YAML value: only mappings, lists, text, numbers, true/false and null are used', path);
  return nullAt(loc);
}

/** Paths whose mappings hold tor option names: merged case-insensitively, as tor reads them. */
function isOptionMap(path: Path): boolean {
  return (path.length === 1 && path[0] === 'options') || (path.length === 3 && path[0] === 'tor' && path[1] === 'launch' && path[2] === 'options');
}

/**
 * `over` applied on top of `base`: mappings merge key by key (recursively), anything else — lists included —
 * is replaced whole. A replaced key keeps its place in the mapping but takes the later file's spelling.
 */
export function mergeNodes(base: SpecNode, over: SpecNode, path: Path = []): SpecNode {
  if (base.kind !== 'map' || over.kind !== 'map') return over;
  const fold = isOptionMap(path) ? (k: string) => k.toLowerCase() : (k: string) => k;
  const merged = new Map<string, MapEntry>();
  const byFolded = new Map<string, string>();
  for (const [k, e] of base.entries) {
    merged.set(k, e);
    byFolded.set(fold(k), k);
  }
  const result = new Map<string, MapEntry>();
  const replaced = new Map<string, MapEntry>();
  const added: MapEntry[] = [];
  for (const [k, e] of over.entries) {
    const existing = byFolded.get(fold(k));
    if (existing === undefined) {
      added.push(e);
      continue;
    }
    const old = merged.get(existing)!;
    replaced.set(existing, { key: k, keyLoc: e.keyLoc, value: mergeNodes(old.value, e.value, [...path, k]) });
  }
  for (const [k, e] of merged) {
    const r = replaced.get(k);
    result.set(r ? r.key : k, r ?? e);
  }
  for (const e of added) result.set(e.key, e);
  return { kind: 'map', loc: base.loc, entries: result };
}

/** The plain value zod checks: objects, arrays and scalars, with interpolations already substituted. */
export function toPlain(node: SpecNode): unknown {
  switch (node.kind) {
    case 'map':
      // fromEntries defines own properties, so a `__proto__` key stays a key instead of a prototype.
      return Object.fromEntries([...node.entries].map(([k, e]) => [k, toPlain(e.value)]));
    case 'seq':
      return node.items.map(toPlain);
    case 'scalar':
      return node.value;
  }
}

export interface Located {
  node: SpecNode;
  /** The mapping entry that holds `node`, when it is a mapping value. */
  entry: MapEntry | undefined;
  /** How much of the path exists: less than its length when the path leads to a missing key or item. */
  depth: number;
}

/** The deepest existing node along `path`. */
export function locate(root: SpecNode, path: ReadonlyArray<PropertyKey>): Located {
  let node = root;
  let entry: MapEntry | undefined;
  let depth = 0;
  for (const step of path) {
    if (node.kind === 'map' && typeof step === 'string') {
      const e = node.entries.get(step);
      if (!e) break;
      entry = e;
      node = e.value;
    } else if (node.kind === 'seq' && typeof step === 'number' && step < node.items.length) {
      entry = undefined;
      node = node.items[step]!;
    } else break;
    depth++;
  }
  return { node, entry, depth };
}

/** `onionServices[2].ports[0].port`: how messages name a place in the spec. */
export function pathLabel(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const step of path) {
    if (typeof step === 'number') out += `[${step}]`;
    else out += out === '' ? String(step) : `.${String(step)}`;
  }
  return out === '' ? 'the spec' : out;
}

/** How a message shows a value: its kind, and the value itself unless it is secret. */
export function describeNode(node: SpecNode): string {
  if (node.kind === 'map') return 'a mapping';
  if (node.kind === 'seq') return 'a list';
  const v = node.value;
  if (v === null) return 'null (an empty value)';
  if (typeof v === 'boolean') return String(v);
  if (node.secret || node.sensitive) return 'a secret value (<redacted>)';
  if (typeof v === 'number') return `the number ${node.text ?? String(v)}`;
  return `the text ${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)}`;
}
