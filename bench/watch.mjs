// Watch mode: drift-revert latency (another controller's SETCONF reply → our revert seen as CONF_CHANGED),
// beside one raw SETCONF round trip; and resident memory over 10,000 reconciles.
// Run: npm run build && node --expose-gc bench/watch.mjs   (DRIFTS=1000 RECONCILES=10000 by default)
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connect, launch } from '../dist/index.js';
import { offlineLaunch } from '../test/helpers/offline.mjs';
import { Watcher } from '../dist/reconcile/watch.js';
import { loadSpec } from '../dist/spec/index.js';
import { tableFor } from '../dist/reconcile/reconcile.js';

const DRIFTS = Number(process.env.DRIFTS ?? 1000);
const RECONCILES = Number(process.env.RECONCILES ?? 10000);
const dir = await mkdtemp(path.join(os.tmpdir(), 'tr-bench-watch-'));
const tor = await launch(offlineLaunch({ dataDirectory: path.join(dir, 'tor'), options: { DisableNetwork: 1, SocksPort: 0 } }));
const spec = path.join(dir, 'spec.yaml');
await writeFile(spec, 'version: 1\noptions:\n  ContactInfo: desired@example.org\n  NumEntryGuards: 2\n');
const watcher = new Watcher({
  specFiles: [spec],
  control: `unix:${tor.controlAddress.path}`,
  debounceMs: 0,
  resyncMs: 3_600_000,
  // A benchmark is a fighting controller by design: no backoff.
  conflict: { threshold: Number.MAX_SAFE_INTEGER },
  table: tableFor,
  log: () => {},
  load: async (table) => (await loadSpec([spec], table ? { table } : {})).state,
});
await watcher.start();
const other = await connect({ control: tor.controlAddress });

let revert;
await other.on('CONF_CHANGED', (e) => {
  if (e.changes.some(([k, v]) => k === 'ContactInfo' && v === 'desired@example.org')) revert?.();
});
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const now = () => Number(process.hrtime.bigint()) / 1e6;

const latencies = [];
for (let i = 0; i < DRIFTS; i++) {
  const seen = new Promise((r) => (revert = r));
  await other.setConf({ ContactInfo: `drift-${i}` });
  const t = now();
  await seen;
  latencies.push(now() - t);
}
const rtts = [];
for (let i = 0; i < DRIFTS; i++) {
  const t = now();
  await other.setConf({ NumEntryGuards: '2' }); // unchanged: the watcher has nothing to do
  rtts.push(now() - t);
}

const gc = globalThis.gc ?? (() => {});
const sample = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20 };
};
const WARMUP = Math.min(1000, RECONCILES / 10);
for (let i = 0; i < WARMUP; i++) {
  watcher.request('resync', true);
  await watcher.idle();
}
const after = [sample()];
const step = RECONCILES / 5;
for (let i = 0; i < RECONCILES; i++) {
  watcher.request('resync', true);
  await watcher.idle();
  if ((i + 1) % step === 0) after.push(sample());
}
await other.close();
await watcher.stop();
await tor.stop();
await rm(dir, { recursive: true, force: true });

const f = (x) => `${x.toFixed(2)} ms`;
console.log(`tor ${tor.client.version}, node ${process.version}${globalThis.gc ? '' : ' (run with --expose-gc for steadier memory figures)'}`);
console.log(`drift-revert latency over ${DRIFTS} drifts (debounce 0): p50 ${f(pct(latencies, 50))}, p99 ${f(pct(latencies, 99))}, max ${f(Math.max(...latencies))}`);
console.log(`one raw SETCONF round trip on the same tor:        p50 ${f(pct(rtts, 50))}, p99 ${f(pct(rtts, 99))}`);
console.log(`memory after ${WARMUP} warm-up reconciles, then every ${step} of ${RECONCILES} (RSS / heap used, MiB):`);
console.log('  ' + after.map((m) => `${m.rss.toFixed(1)} / ${m.heap.toFixed(1)}`).join('  →  '));
console.log(`reconciles ok ${watcher.metrics.reconciles.ok}, errors ${watcher.metrics.reconciles.error}, drifts reverted ${watcher.metrics.driftsReverted}`);
