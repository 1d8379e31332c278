/**
 * How the bin runs the command line (issue #16): program.ts and everything it uses are one CommonJS bundle,
 * `cli.cjs` beside the bin (scripts/build-cli.mjs), compiled through vm.Script with a V8 code cache the build
 * made by running commands in it (`cli.cjs.cache`, scripts/code-cache.mjs). Node 20 has no compile cache for modules: without one,
 * every run parses and compiles ~1 MB of JavaScript (zod, yaml, commander, ours) before it does anything.
 *
 * V8 checks a cache against its own version and flags and the source's length only, and a damaged cache
 * aborts the process (V8_Fatal while deserializing, exit 133, seen on node 20.20). So the cache file starts
 * with the SHA-256 of the source and the cache together: a cache of another source, or one damaged or cut
 * short, is never given to V8. A cache V8 rejects (another node) or that is missing or not its own costs the
 * compile the cache would have saved, nothing else.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import type * as Program from './program.js';

export const BUNDLE_FILE = 'cli.cjs';
export const CACHE_FILE = 'cli.cjs.cache';

export interface CompiledBundle {
  /** What program.ts exports. */
  cli: typeof Program;
  script: vm.Script;
  /** cli.cjs as read. */
  source: Buffer;
  /** Whether V8 took the code cache. */
  cached: boolean;
}

/** Compiles and runs `dir`/cli.cjs, with its code cache unless `useCache` is false or the cache is not its own. */
export function loadBundle(dir: string, useCache = true): CompiledBundle {
  const file = path.join(dir, BUNDLE_FILE);
  const source = readFileSync(file);
  const cachedData = useCache ? ownCache(path.join(dir, CACHE_FILE), source) : undefined;
  // The wrapper node gives a CommonJS module; the bundle's require() is for node's modules and the packages
  // it leaves outside (required on first use, resolved from dist/cli/).
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source.toString('utf8')}\n})`, { filename: file, ...(cachedData ? { cachedData } : {}) });
  const module = { exports: {} as typeof Program };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(file), module, file, dir);
  return { cli: module.exports, script, source, cached: cachedData !== undefined && !script.cachedDataRejected };
}

/** The cache file's bytes for what `bundle` has compiled so far: the digest of source and cache, then the cache. */
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

const DIGEST_BYTES = 32;

/** Of the bytes as read: hashing the decoded text would encode it again. */
function digest(source: Buffer, data: Buffer): Buffer {
  return createHash('sha256').update(source).update(data).digest();
}
