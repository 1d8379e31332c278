import { readFileSync } from 'node:fs';
import { parseDocument, LineCounter } from 'yaml';
const { loadSpec } = await import('../dist/spec/load.js');
const text = readFileSync('/tmp/h16s-5000.yaml', 'utf8');
const time = (l, f) => { const t = performance.now(); const r = f(); console.log(l.padEnd(24), (performance.now() - t).toFixed(1)); return r; };
for (let i = 0; i < 3; i++) {
  time('parseDocument+lc', () => parseDocument(text, { lineCounter: new LineCounter(), uniqueKeys: false, prettyErrors: false, strict: true }));
  time('parseDocument', () => parseDocument(text, { uniqueKeys: false, prettyErrors: false, strict: true }));
  const t = performance.now(); await loadSpec(['/tmp/h16s-5000.yaml']); console.log('loadSpec'.padEnd(24), (performance.now() - t).toFixed(1));
}
