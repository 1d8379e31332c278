#!/usr/bin/env node
/**
 * Builds the command line into DIST/cli/ (issue #16); `npm run build` runs it after tsc; DIST is ./dist by
 * default.
 *
 *   node scripts/build-cli.mjs [DIST]
 *
 * - `main.js`, the file `bin` points at: src/cli/main.ts with the little it imports (bundle.ts, version.ts).
 * - `cli.cjs`: src/cli/program.ts and everything it uses — our modules, zod, yaml, commander — as one
 *   CommonJS file, which main.js compiles through vm.Script (src/cli/bundle.ts). Commands and the packages
 *   they need are still initialised only when a command needs them (esbuild keeps each lazily imported module
 *   behind its own init function).
 * - `cli.cjs.cache`: the V8 code cache main.js compiles it with, made by scripts/code-cache.mjs in a fresh
 *   node.
 *
 * Why: Node 20 has no compile cache, and every run parsed and compiled ~1 MB of JavaScript (ours, zod's,
 * yaml's, commander's) before doing anything; one file with a code cache is mostly read, not compiled
 * (docs/performance.md). tsc's own output of src/cli stays beside it, unused by the bin; the library
 * (DIST/index.js, `exports`) is tsc's output alone.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = path.resolve(process.argv[2] ?? path.join(root, 'dist'));
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

// The chunks of earlier builds, which split the command line into ES modules.
rmSync(path.join(dist, 'cli/chunks'), { recursive: true, force: true });
const common = {
  bundle: true,
  platform: 'node',
  target: `node${pkg.engines.node.replace(/^>=/, '')}`,
  // Not minified: a bug's stack trace (exit 70) stays readable, and the `// path` comment before each
  // module says which source it came from.
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
};
// The version without reading package.json, whose path relative to the build is not the source's.
const define = { TOR_RECONCILE_VERSION: JSON.stringify(pkg.version) };
await build({ ...common, entryPoints: { main: path.join(root, 'src/cli/main.ts') }, outdir: path.join(dist, 'cli'), format: 'esm', define });
await build({
  ...common,
  entryPoints: [path.join(root, 'src/cli/program.ts')],
  outfile: path.join(dist, 'cli/cli.cjs'),
  format: 'cjs',
  // A CommonJS module has no import.meta: the modules that require() packages on first use (@noble/curves,
  // diff, left outside the bundle) resolve them from the bundle's own URL, in dist/cli/.
  define: { ...define, 'import.meta.url': '__bundleUrl' },
  banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
});
const cache = spawnSync(process.execPath, [path.join(root, 'scripts/code-cache.mjs'), dist], { stdio: 'inherit' });
if (cache.status !== 0) process.exit(cache.status ?? 1);
