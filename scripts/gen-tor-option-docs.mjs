#!/usr/bin/env node
/**
 * Regenerates src/tor/config/tor-option-docs.json, tor's one-line meaning of each option (what
 * `export --comments` writes above an option), from tor's own manual page:
 *
 *   node scripts/gen-tor-option-docs.mjs [/usr/share/man/man1/tor.1.gz]
 *
 * An option's entry in tor(1) is a `\fBName\fR …` line after `.PP`, then its text up to `.RE`; the meaning
 * is that text's first sentence. Only names in tor-options.json are kept.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const manPage = process.argv[2] ?? '/usr/share/man/man1/tor.1.gz';
const outFile = fileURLToPath(new URL('../src/tor/config/tor-option-docs.json', import.meta.url));
const table = JSON.parse(fs.readFileSync(new URL('../src/tor/config/tor-options.json', import.meta.url), 'utf8'));
const known = new Set(table.options.map((o) => o.name));

const roff = manPage.endsWith('.gz') ? execFileSync('zcat', [manPage], { encoding: 'utf8' }) : fs.readFileSync(manPage, 'utf8');
const lines = roff.split('\n');

/** roff text → plain text: font switches, escapes and special characters. */
function plain(s) {
  return s
    .replace(/\\f[BIRP]/g, '')
    .replace(/\\&/g, '')
    .replace(/\\-/g, '-')
    .replace(/\\\(em/g, '—')
    .replace(/\\\(en/g, '–')
    .replace(/\\\((?:aq|cq)|\\\*\(Aq/g, "'")
    .replace(/\\\((?:lq|rq|dq)/g, '"')
    .replace(/\\e/g, '\\')
    .replace(/\\ /g, ' ')
    .replace(/\\%/g, '');
}

const docs = {};
for (let i = 1; i < lines.length; i++) {
  const m = /^\\fB([A-Za-z_][A-Za-z0-9_]*)\\fR/.exec(lines[i]);
  if (!m || lines[i - 1] !== '.PP' || !known.has(m[1]) || docs[m[1]]) continue;
  // Several names can share one entry (`\fBA\fR …` lines one after another); the text follows `.RS 4`.
  let j = i + 1;
  while (j < lines.length && lines[j] !== '.RS 4') j++;
  const text = [];
  for (j++; j < lines.length && !/^\.(RE|sp|PP)/.test(lines[j]); j++) if (!lines[j].startsWith('.')) text.push(plain(lines[j]));
  const paragraph = text.join(' ').replace(/\s+/g, ' ').trim();
  if (!paragraph) continue;
  // The first sentence ends at a stop before a capital letter or the end, never inside "e.g." or "i.e.".
  const sentence = /^(.+?(?<!\be\.g|\bi\.e|\betc)[.!?])(?=\s+[A-Z(]|$)/.exec(paragraph)?.[1] ?? paragraph;
  docs[m[1]] = sentence.length > 160 ? `${sentence.slice(0, 157).replace(/\s+\S*$/, '')} …` : sentence;
}
const names = Object.keys(docs).sort((a, b) => a.localeCompare(b));
const body = names.map((n) => `  ${JSON.stringify(n)}: ${JSON.stringify(docs[n])}`).join(',\n');
fs.writeFileSync(outFile, `{\n${body}\n}\n`);
console.log(`wrote ${names.length} of ${known.size} options' meanings to src/tor/config/tor-option-docs.json`);
