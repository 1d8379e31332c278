#!/usr/bin/env node
/**
 * Makes DIST/cli/cli.cjs.cache and spec.cjs.cache, the V8 code caches the bin compiles the command line's
 * bundles with (src/cli/bundle.ts); scripts/build-cli.mjs runs it in a fresh node, whose V8 and flags are
 * those the caches are checked against.
 *
 *   node scripts/code-cache.mjs DIST
 *
 * The bundle is compiled without a cache, then commands run in it with their output discarded: what they
 * compile is what the cache holds (V8 compiles a function when it first runs; what is not in the cache is
 * compiled when first used, as without one). Offline, always: `validate` and `lint` of a one-service spec in
 * spec.cjs — what its cache holds — then, in cli.cjs, `plan` of it against a control socket that does not
 * exist (the start of every plan and apply).
 *
 * Then, where tor is installed, the main job itself: `apply` of a spec with an embedded tor (tor.launch,
 * `DisableNetwork 1` from its first second: it reaches nothing beyond this machine), a no-op `plan` of it,
 * and `stop`. Without that, everything a plan or an apply does once connected was compiled on every run:
 * ~6–8 ms of CPU of an apply or a no-op plan of one service (perf stat, interleaved runs), for ~2 ms more
 * to deserialize in every other command. A build on a machine without tor makes the offline cache only, and
 * says so.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = path.resolve(process.argv[2] ?? path.join(root, 'dist'));
const { BUNDLE_FILE, SPEC_BUNDLE_FILE, cacheBytes, cacheFileOf, loadBundle } = await import(pathToFileURL(path.join(dist, 'cli/bundle.js')).href);

const cliDir = path.join(dist, 'cli');
const tmp = await mkdtemp(path.join(os.tmpdir(), 'tr-code-cache-'));
const io = { stdout() {}, stderr() {}, env: {} };
try {
  const spec = path.join(tmp, 'one.yaml');
  const service = '  - { name: web, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: "127.0.0.1:9000" }] }';
  await writeFile(spec, `version: 1\nstateDirectory: ${path.join(tmp, 'state')}\nonionServices:\n${service}\n`);
  // The spec bundle: validate and lint are all it runs.
  const specBundle = loadBundle(cliDir, SPEC_BUNDLE_FILE, false);
  await specBundle.cli.run(['validate', spec], io);
  await specBundle.cli.run(['lint', spec], io);
  await writeCache(specBundle, SPEC_BUNDLE_FILE);

  const bundle = loadBundle(cliDir, BUNDLE_FILE, false);
  const run = (...argv) => bundle.cli.run(argv, io);
  await run('plan', spec, '--control', `unix:${path.join(tmp, 'no-tor.sock')}`);

  if (onPath('tor')) {
    const launched = path.join(tmp, 'launched.yaml');
    await writeFile(
      launched,
      [
        'version: 1',
        `tor: { launch: { dataDirectory: ${path.join(tmp, 'tor')}, options: { DisableNetwork: 1, SocksPort: 0 } } }`,
        `stateDirectory: ${path.join(tmp, 'launched-state')}`,
        'onionServices:',
        service,
        '',
      ].join('\n'),
    );
    // A warm-up that fails costs start-up time, not the build: the cache then holds what ran.
    try {
      const status = await run('apply', launched, '--auto-approve');
      if (status !== 0) console.error(`code cache: apply on an embedded tor exited ${status}; the cache holds what ran`);
      else await run('plan', launched);
    } catch (err) {
      console.error(`code cache: apply on an embedded tor failed (${err.message}); the cache holds what ran`);
    } finally {
      await run('stop', launched).catch(() => {});
    }
  } else {
    console.error('code cache: tor is not installed, so only offline commands warmed the cache (apply and plan compile the rest on each run)');
  }

  await writeCache(bundle, BUNDLE_FILE);
} finally {
  await rm(tmp, { recursive: true, force: true });
}

/** What `bundle` (compiled from the file `name`) has compiled so far, as its cache. */
async function writeCache(bundle, name) {
  // Whole or not at all: the bin checks the cache's checksums, but a build cut short should leave no half file.
  const file = path.join(cliDir, cacheFileOf(name));
  await writeFile(`${file}.tmp`, cacheBytes(bundle));
  await rename(`${file}.tmp`, file);
}

function onPath(name) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, name)));
}
