#!/usr/bin/env node
import { processIo, run } from './program.js';

// exitCode rather than exit(): a piped stdout is flushed before the process ends.
process.exitCode = await run(process.argv.slice(2), processIo());
