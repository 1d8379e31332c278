#!/usr/bin/env node
/**
 * Bundles the command line (src/cli/main.ts) into DIST/cli/main.js, the file `bin` points at, with the
 * packages it uses inlined (issue #16). `npm run build` runs it after tsc; DIST is ./dist by default.
 *
 *   node scripts/build-cli.mjs [DIST]
 *
 * Why: Node 20 has no compile cache, and every module the CLI imports is resolved, read and compiled on
 * every run; ~140 files (ours, zod's, yaml's, commander's) cost more than compiling the same code as a few
 * files. The bundle is split (ES modules, one chunk per lazily imported command and per shared part, under
 * DIST/cli/chunks/) so that each command still loads only its own code (docs/performance.md). tsc's own
 * output of src/cli stays beside it, unused by the bundle; the library (DIST/index.js, `exports`) is tsc's
 * output alone.
 */
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = path.resolve(process.argv[2] ?? path.join(root, 'dist'));
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

// Chunk names carry a content hash: the previous build's would pile up beside the new ones.
rmSync(path.join(dist, 'cli/chunks'), { recursive: true, force: true });
await build({
  entryPoints: { main: path.join(root, 'src/cli/main.ts') },
  outdir: path.join(dist, 'cli'),
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: `node${pkg.engines.node.replace(/^>=/, '')}`,
  // The packages of commonjs (commander, yaml, socks) call require() for node's modules, which an ES module
  // lacks; each chunk gets one.
  banner: { js: "import { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);" },
  // The version without reading package.json, whose path relative to a chunk is not the source's.
  define: { TOR_RECONCILE_VERSION: JSON.stringify(pkg.version) },
  // Not minified: a bug's stack trace (exit 70) stays readable, and the `// path` comment before each
  // module says which source it came from (test/unit/cli-startup.test.ts reads them).
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
});
