#!/usr/bin/env node
// Writes docs/lint-rules.md from the rules in src/lint/rules/ (their IDs, severities, rationale, sources and
// fixes). Run after `npm run build`; test/unit/lint-docs.test.ts fails while the committed file is stale.
import { writeFileSync } from 'node:fs';
import { allRuleDocs, renderRuleDocs } from '../dist/lint/index.js';

const out = new URL('../docs/lint-rules.md', import.meta.url);
writeFileSync(out, renderRuleDocs(allRuleDocs));
console.log(`wrote docs/lint-rules.md (${allRuleDocs.length} rules)`);
