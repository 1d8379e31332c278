#!/usr/bin/env node
/**
 * Makes DIST/cli/cli.cjs.cache, the V8 code cache the bin compiles the command line with (src/cli/bundle.ts);
 * scripts/build-cli.mjs runs it in a fresh node, whose V8 and flags are those the cache is checked against.
 *
 *   node scripts/code-cache.mjs DIST
 *
 * The bundle is compiled without a cache, then commands run in it with their output discarded: what they
 * compile is what the cache holds (V8 compiles a function when it first runs). They are offline and write
 * nothing: `validate` of a one-service spec, and `plan` of it against a control socket that does not exist
 * (a plan's and an apply's start, up to the connection). Every command deserializes the whole cache, so it
 * holds what most runs use and no more: with the example specs validated too it grew by 6 % for no
 * measurable gain; what is not in it is compiled when first used, as without a cache.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = path.resolve(process.argv[2] ?? path.join(root, 'dist'));
const { CACHE_FILE, cacheBytes, loadBundle } = await import(pathToFileURL(path.join(dist, 'cli/bundle.js')).href);

const bundle = loadBundle(path.join(dist, 'cli'), false);
const tmp = await mkdtemp(path.join(os.tmpdir(), 'tr-code-cache-'));
try {
  const spec = path.join(tmp, 'one.yaml');
  await writeFile(spec, `version: 1\nstateDirectory: ${path.join(tmp, 'state')}\nonionServices:\n  - { name: web, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: "127.0.0.1:9000" }] }\n`);
  const io = { stdout() {}, stderr() {}, env: {} };
  for (const argv of [['validate', spec], ['plan', spec, '--control', `unix:${path.join(tmp, 'no-tor.sock')}`]]) {
    await bundle.cli.run(argv, io);
  }
  // Whole or not at all: the bin checks the cache's digest, but a build cut short should leave no half file.
  const file = path.join(dist, 'cli', CACHE_FILE);
  await writeFile(`${file}.tmp`, cacheBytes(bundle));
  await rename(`${file}.tmp`, file);
} finally {
  await rm(tmp, { recursive: true, force: true });
}
