#!/usr/bin/env node
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleFor, loadBundle } from './bundle.js';
import { asksVersionOnly, version } from './version.js';

const argv = process.argv.slice(2);
// The version alone is answered before the command line's bundle is read: scripts ask it often.
if (asksVersionOnly(argv)) process.stdout.write(`${version()}\n`);
else {
  const { cli } = loadBundle(path.dirname(fileURLToPath(import.meta.url)), bundleFor(argv));
  // exitCode rather than exit(): a piped stdout is flushed before the process ends. No top-level await: the
  // bin is CommonJS (scripts/build-cli.mjs).
  void cli.run(argv, cli.processIo()).then((code) => {
    process.exitCode = code;
  });
}
