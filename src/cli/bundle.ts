/**
 * How the bin runs the command line (issue #16): program.ts and everything it uses are one CommonJS bundle,
 * `cli.cjs` beside the bin (scripts/build-cli.mjs; `spec.cjs` for the commands that only read specs),
 * compiled through vm.Script with a V8 code cache the build made by running commands in it (`cli.cjs.cache`,
 * `spec.cjs.cache`; scripts/code-cache.mjs). Node 20 has no compile cache for modules: without one, every
 * run parses and compiles ~1 MB of JavaScript (zod, yaml, commander, ours) before it does anything.
 *
 * V8 checks a cache against its own version and flags and the source's length only, and a damaged cache
 * aborts the process (V8_Fatal while deserializing, exit 133, seen on node 20.20). So the cache file starts
 * with a CRC-32 of the source and one of the cache: a cache of another source, or one damaged or cut short,
 * is never given to V8. A checksum is enough: what it guards against is an edit or a bad copy, not an
 * attacker (who could edit the bundle itself); zlib's CRC-32 of the 2.7 MB costs ~0.6 ms and zlib's load
 * ~1.5 ms, where SHA-256 cost ~1.9 ms and node:crypto's load ~2.5 ms, which `validate` needs nowhere else.
 * A cache V8 rejects (another node) or that is missing or not its own costs the compile the cache would
 * have saved, nothing else.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import { crc32 } from 'node:zlib';
import type * as Program from './program.js';

export const BUNDLE_FILE = 'cli.cjs';
/**
 * The commands that only read specs run from a bundle of their own: program.ts with validate and lint alone
 * (src/cli/commands/spec-commands.ts), ~0.6 MB against 1.1, about half the bytes to read, check and compile
 * on every `validate` (issue #16).
 */
export const SPEC_BUNDLE_FILE = 'spec.cjs';
/** Each bundle's code cache is the file beside it with `.cache` added. */
export const CACHE_FILE = cacheFileOf(BUNDLE_FILE);
export const SPEC_CACHE_FILE = cacheFileOf(SPEC_BUNDLE_FILE);
// The names in spec-commands.ts (a test checks): imported, its table would bring validate into the bin.
const SPEC_COMMANDS: ReadonlySet<string> = new Set(['validate', 'lint']);

export function cacheFileOf(bundle: string): string {
  return `${bundle}.cache`;
}

/** The bundle a command line runs from. */
export function bundleFor(argv: readonly string[]): string {
  return SPEC_COMMANDS.has(argv[0] ?? '') ? SPEC_BUNDLE_FILE : BUNDLE_FILE;
}

/**
 * A bundle holds its module inside the function node wraps a CommonJS module in (scripts/build-cli.mjs writes
 * it so): compiled as read, without a copy of its megabyte made to wrap it (~1 ms). The head is a line of its
 * own: the build shifts the source map by that line.
 */
export const BUNDLE_HEAD = '(function (exports, require, module, __filename, __dirname) {\n';
export const BUNDLE_TAIL = '\n})';

export interface CompiledBundle {
  /** What program.ts exports. */
  cli: typeof Program;
  script: vm.Script;
  /** The bundle's bytes as read. */
  source: Buffer;
  /** Whether V8 took the code cache. */
  cached: boolean;
}

/**
 * Compiles and runs `dir`/`bundle`, with its code cache unless `useCache` is false or the cache is not the
 * bundle's own.
 */
export function loadBundle(dir: string, bundle: string = BUNDLE_FILE, useCache = true): CompiledBundle {
  const file = path.join(dir, bundle);
  const source = readFileSync(file);
  const cachedData = useCache ? ownCache(path.join(dir, cacheFileOf(bundle)), source) : undefined;
  // latin1: the build makes the bundle pure ASCII, which latin1 decodes as UTF-8 would, byte for byte, without
  // looking for multi-byte sequences. The bundle's require() is for node's modules and the packages it leaves
  // outside (required on first use, resolved from dist/cli/).
  const script = new vm.Script(source.toString('latin1'), { filename: file, ...(cachedData ? { cachedData } : {}) });
  const module = { exports: {} as typeof Program };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(file), module, file, dir);
  return { cli: module.exports, script, source, cached: cachedData !== undefined && !script.cachedDataRejected };
}

/** The cache file's bytes for what `bundle` has compiled so far: the checksums of source and cache, then the cache. */
export function cacheBytes(bundle: CompiledBundle): Buffer {
  const data = bundle.script.createCachedData();
  return Buffer.concat([digest(bundle.source, data), data]);
}

function ownCache(file: string, source: Buffer): Buffer | undefined {
  if (!existsSync(file)) return undefined;
  const bytes = readFileSync(file);
  const data = bytes.subarray(DIGEST_BYTES);
  return bytes.length > DIGEST_BYTES && bytes.subarray(0, DIGEST_BYTES).equals(digest(source, data)) ? data : undefined;
}

/** Where V8's data starts in the cache file, after the two checksums. */
export const DIGEST_BYTES = 8;

/** Of the bytes as read: checking the decoded text would encode it again. */
function digest(source: Buffer, data: Buffer): Buffer {
  const sums = Buffer.alloc(DIGEST_BYTES);
  sums.writeUInt32BE(crc32(source), 0);
  sums.writeUInt32BE(crc32(data), 4);
  return sums;
}
