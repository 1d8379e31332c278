#!/usr/bin/env node
/**
 * Builds the command line into DIST/cli/ (issue #16); `npm run build` runs it after tsc; DIST is ./dist by
 * default.
 *
 *   node scripts/build-cli.mjs [DIST]
 *
 * - `main.cjs`, the file `bin` points at: src/cli/main.ts with the little it imports (bundle.ts, version.ts),
 *   as CommonJS: node then never starts its ES module loader, ~5 ms of every run.
 * - `cli.cjs`: src/cli/program.ts and everything it uses — our modules, zod, yaml, commander — as one
 *   CommonJS module, already inside node's module wrapper, which main.cjs compiles through vm.Script
 *   (src/cli/bundle.ts). Commands and the packages they need are still initialised only when a command needs
 *   them (esbuild keeps each lazily imported module behind its own init function).
 * - `spec.cjs`: the same with validate and lint as the only commands (src/cli/commands/spec-commands.ts),
 *   about half the bytes: what main.cjs runs those two from.
 * - `cli.cjs.cache` and `spec.cjs.cache`: the V8 code caches main.cjs compiles them with (the second for
 *   `validate` and `lint`), made by scripts/code-cache.mjs in a fresh node.
 *
 * Why: Node 20 has no compile cache, and every run parsed and compiled ~1 MB of JavaScript (ours, zod's,
 * yaml's, commander's) before doing anything; one file with a code cache is mostly read, not compiled
 * (docs/performance.md). tsc's own output of src/cli stays beside it, unused by the bin; the library
 * (DIST/index.js, `exports`) is tsc's output alone.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, transformSync } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = path.resolve(process.argv[2] ?? path.join(root, 'dist'));
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
// tsc has compiled it: the head and tail the bin expects around the bundle.
const { BUNDLE_HEAD, BUNDLE_TAIL } = await import(pathToFileURL(path.join(dist, 'cli/bundle.js')).href);

// The chunks of earlier builds, which split the command line into ES modules, and the cache validate used
// when it ran from cli.cjs.
rmSync(path.join(dist, 'cli/chunks'), { recursive: true, force: true });
rmSync(path.join(dist, 'cli/cli.cjs.spec-cache'), { force: true });
const common = {
  bundle: true,
  platform: 'node',
  target: `node${pkg.engines.node.replace(/^>=/, '')}`,
  // The source map names each position's file and line in src/: a bug's stack trace (exit 70) is printed
  // with those (src/cli/stack.ts), so the bundles can be written without whitespace.
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
};
// The version without reading package.json, whose path relative to the build is not the source's.
const define = { TOR_RECONCILE_VERSION: JSON.stringify(pkg.version) };
/**
 * `entry` and what it imports as one CommonJS file. CommonJS has no import.meta: its URL is `__fileUrl`,
 * which the banner makes from __filename (the modules that require() packages on first use, @noble/curves and
 * diff, left outside the bundle, resolve them from it, in dist/cli/). "use strict" opens the banner: after
 * another statement it would be no directive, and the file would run in sloppy mode, which none of its
 * modules (ES modules, strict) was written or tested for.
 */
const commonJs = (entry, outfile, plugins = [], minifyWhitespace = false) =>
  build({
    ...common,
    plugins,
    minifyWhitespace,
    entryPoints: [path.join(root, entry)],
    outfile: path.join(dist, outfile),
    format: 'cjs',
    define: { ...define, 'import.meta.url': '__fileUrl' },
    banner: { js: `"use strict";const __fileUrl = require('node:url').pathToFileURL(__filename).href;` },
  });
/**
 * commander requires node:child_process as it loads, for executable subcommands (`command(name, description)`
 * runs a program named after the command), which this CLI never declares: ~2 ms of every command's start.
 * commander's require is given a stand-in that loads the module on first use (cli-startup.test.ts checks
 * that `validate` never loads it).
 */
const childProcessOnUse = {
  name: 'child-process-on-use',
  setup(b) {
    const commander = `${path.sep}node_modules${path.sep}commander${path.sep}`;
    b.onResolve({ filter: /^node:child_process$/ }, (args) => (args.importer.includes(commander) ? { path: 'child-process-on-use', namespace: 'build-cli' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'build-cli' }, () => ({
      contents: "module.exports = { spawn: (...args) => require('node:child_process').spawn(...args) };",
      loader: 'js',
    }));
  },
};
/**
 * For spec.cjs: program.ts sees the table of spec-commands.ts (validate and lint) as its commands, so that
 * nothing of the other commands — the reconciler, the control client, watch, SOCKS — is in the bundle.
 */
const specCommandsOnly = {
  name: 'spec-commands-only',
  setup(b) {
    const program = path.join(root, 'src/cli/program.ts');
    b.onResolve({ filter: /^\.\/commands\/index\.js$/ }, (args) => (args.importer === program ? { path: path.join(root, 'src/cli/commands/spec-commands.ts') } : undefined));
  },
};
// tsc's ES module output of main.ts stays beside it, unused by the bin, as the rest of src/cli.
await commonJs('src/cli/main.ts', 'cli/main.cjs');
/**
 * The bundles without whitespace (and without comments but the licences): ~30 % fewer bytes that every run
 * reads, checksums, decodes and hands to V8 (a no-op plan and a validate ~6 ms faster, issue #16). Names are
 * kept, and positions are mapped back to src/ when a bug is reported.
 */
await commonJs('src/cli/program.ts', 'cli/cli.cjs', [childProcessOnUse], true);
await commonJs('src/cli/program.ts', 'cli/spec.cjs', [childProcessOnUse, specCommandsOnly], true);
for (const file of ['cli/cli.cjs', 'cli/spec.cjs']) {
  asciiOnly(path.join(dist, file));
  wrapped(path.join(dist, file));
}
const cache = spawnSync(process.execPath, [path.join(root, 'scripts/code-cache.mjs'), dist], { stdio: 'inherit' });
if (cache.status !== 0) process.exit(cache.status ?? 1);

/**
 * Makes the bundle pure ASCII: node then reads it into a one-byte string, 1.6 MB decoded in ~1 ms instead of
 * ~3.5 ms into a two-byte one, and V8 deserializes its code cache faster too. esbuild already escapes code
 * (charset ascii); what it leaves are comments, kept as written. Those are escaped here, after checking that
 * nothing else holds a non-ASCII character: the bundle with its comments removed must be ASCII, so a regular
 * expression or identifier written with one fails the build (write it with \u escapes).
 */
function asciiOnly(file) {
  const text = readFileSync(file, 'utf8');
  if (!/[^\0-\x7f]/.test(text)) return;
  const code = transformSync(text, { minifyWhitespace: true, charset: 'ascii', format: 'cjs', logLevel: 'silent' }).code;
  const outside = /[^\0-\x7f]/.exec(code);
  if (outside) throw new Error(`${file}: a non-ASCII character outside comments: …${code.slice(Math.max(0, outside.index - 60), outside.index + 20)}…`);
  writeFileSync(file, text.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/**
 * Puts the bundle inside the function node wraps a CommonJS module in, as the bin compiles it
 * (src/cli/bundle.ts): wrapping it when read copied its megabyte on every run. The head is a line of its own,
 * so the source map, given an empty first line, maps the wrapped file's positions as V8 reports them.
 */
function wrapped(file) {
  writeFileSync(file, `${BUNDLE_HEAD}${readFileSync(file, 'latin1')}${BUNDLE_TAIL}`, 'latin1');
  const map = JSON.parse(readFileSync(`${file}.map`, 'utf8'));
  writeFileSync(`${file}.map`, JSON.stringify({ ...map, mappings: `;${map.mappings}` }));
}
