/**
 * How the bin runs the command line (issue #16): program.ts and everything it uses are one CommonJS bundle,
 * `cli.cjs` beside the bin (scripts/build-cli.mjs), compiled through vm.Script with a V8 code cache the build
 * made by running offline commands (`cli.cjs.cache`). Node 20 has no compile cache for modules: without one,
 * every run parses and compiles ~1 MB of JavaScript (zod, yaml, commander, ours) before it does anything.
 *
 * V8 checks a cache against its own version and flags and the source's length only, so the cache starts with
 * the SHA-256 of the source it was made from: a cache of another source is never used. A cache V8 rejects
 * (another node) or that is missing costs the compile the cache would have saved, nothing else.
 */
import { hash } from 'node:crypto';
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
  /** SHA-256 of cli.cjs as read. */
  digest: Buffer;
  /** Whether V8 took the code cache. */
  cached: boolean;
}

/** Compiles and runs `dir`/cli.cjs, with its code cache unless `useCache` is false or the cache is not its own. */
export function loadBundle(dir: string, useCache = true): CompiledBundle {
  const file = path.join(dir, BUNDLE_FILE);
  const bytes = readFileSync(file);
  // Hashing the bytes as read costs less than hashing the decoded text, which would be encoded again.
  const digest = hash('sha256', bytes, 'buffer');
  const cachedData = useCache ? ownCache(path.join(dir, CACHE_FILE), digest) : undefined;
  // The wrapper node gives a CommonJS module; the bundle's require() is for node's modules and the packages
  // it leaves outside (required on first use, resolved from dist/cli/).
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${bytes.toString('utf8')}\n})`, { filename: file, ...(cachedData ? { cachedData } : {}) });
  const module = { exports: {} as typeof Program };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(file), module, file, dir);
  return { cli: module.exports, script, digest, cached: cachedData !== undefined && !script.cachedDataRejected };
}

/** The cache file's bytes for what `bundle` has compiled so far: the source's digest, then V8's data. */
export function cacheBytes(bundle: CompiledBundle): Buffer {
  return Buffer.concat([bundle.digest, bundle.script.createCachedData()]);
}

function ownCache(file: string, digest: Buffer): Buffer | undefined {
  if (!existsSync(file)) return undefined;
  const bytes = readFileSync(file);
  return bytes.subarray(0, digest.length).equals(digest) ? bytes.subarray(digest.length) : undefined;
}
