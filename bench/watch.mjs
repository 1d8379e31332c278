// Watch mode: drift-revert latency (another controller's SETCONF reply → our revert seen as CONF_CHANGED),
// beside one raw SETCONF round trip; resident memory over 10,000 reconciles; and how long watch takes to
// notice an ephemeral service another controller deleted (tor sends no event: the onions/detached poll).
// Run: npm run build && node --expose-gc bench/watch.mjs
//   (DRIFTS=1000 RECONCILES=10000 ONION_DELETES=40 POLL_ONIONS_MS=2000, watch's default interval, by default)
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
const ONION_DELETES = Number(process.env.ONION_DELETES ?? 40);
const POLL_ONIONS_MS = Number(process.env.POLL_ONIONS_MS ?? 2000);
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
await watcher.stop();

// DEL_ONION by another controller: deleted at a random moment of the poll's cycle, as in real life; detection
// is watch's `onion-poll` log line, restored is the end of the reconcile it starts.
const onionSpec = path.join(dir, 'onion.yaml');
await writeFile(onionSpec, 'version: 1\nstateDirectory: ./onion-state\nonionServices:\n  - { name: api, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: 127.0.0.1:9000 }] }\n');
let detected;
const onionWatcher = new Watcher({
  specFiles: [onionSpec],
  control: `unix:${tor.controlAddress.path}`,
  debounceMs: 0,
  resyncMs: 3_600_000,
  onionPollMs: POLL_ONIONS_MS,
  conflict: { threshold: Number.MAX_SAFE_INTEGER },
  table: tableFor,
  log: (e) => {
    if (e.event === 'onion-poll') detected?.(now());
  },
  load: async (table) => (await loadSpec([onionSpec], table ? { table } : {})).state,
});
await onionWatcher.start();
const [address] = (await other.getInfo('onions/detached')).split('\n');
const detections = [];
const restores = [];
for (let i = 0; i < ONION_DELETES; i++) {
  await new Promise((r) => setTimeout(r, Math.random() * POLL_ONIONS_MS));
  const seen = new Promise((r) => (detected = r));
  await other.delOnion(address);
  const t = now();
  detections.push((await seen) - t);
  await onionWatcher.idle();
  restores.push(now() - t);
  if (!(await other.getInfo('onions/detached')).includes(address)) throw new Error('the deleted service was not restored');
}
await onionWatcher.stop();
await other.close();
await tor.stop();
await rm(dir, { recursive: true, force: true });

const f = (x) => `${x.toFixed(2)} ms`;
console.log(`tor ${tor.client.version}, node ${process.version}${globalThis.gc ? '' : ' (run with --expose-gc for steadier memory figures)'}`);
console.log(`drift-revert latency over ${DRIFTS} drifts (debounce 0): p50 ${f(pct(latencies, 50))}, p99 ${f(pct(latencies, 99))}, max ${f(Math.max(...latencies))}`);
console.log(`one raw SETCONF round trip on the same tor:        p50 ${f(pct(rtts, 50))}, p99 ${f(pct(rtts, 99))}`);
console.log(`memory after ${WARMUP} warm-up reconciles, then every ${step} of ${RECONCILES} (RSS / heap used, MiB):`);
console.log('  ' + after.map((m) => `${m.rss.toFixed(1)} / ${m.heap.toFixed(1)}`).join('  →  '));
console.log(`reconciles ok ${watcher.metrics.reconciles.ok}, errors ${watcher.metrics.reconciles.error}, drifts reverted ${watcher.metrics.driftsReverted}`);
console.log(`DEL_ONION detection latency over ${ONION_DELETES} deletes (poll every ${POLL_ONIONS_MS} ms): p50 ${f(pct(detections, 50))}, p99 ${f(pct(detections, 99))}, max ${f(Math.max(...detections))}`);
console.log(`DEL_ONION → service restored:                     p50 ${f(pct(restores, 50))}, p99 ${f(pct(restores, 99))}, max ${f(Math.max(...restores))}`);
