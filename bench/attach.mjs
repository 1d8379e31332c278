// Attach decision latency on a private Tor network: 1,000 streams through the client's SOCKS port, 50 attach
// policies (the matching ones near the end, so every decision walks most of the list), enforced by the
// watch-mode engine. Latency = STREAM NEW event received → tor's reply to our ATTACHSTREAM.
// Run: npx tsc -p tsconfig.json && cp test/helpers/offline.mjs dist-check/test/helpers/ && node bench/attach.mjs
// (STREAMS=1000 by default; tsc does not copy the plain-JavaScript guard the network imports)
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Watcher } from '../dist-check/src/reconcile/watch.js';
import { loadSpec } from '../dist-check/src/spec/index.js';
import { tableFor } from '../dist-check/src/reconcile/reconcile.js';
import { formatControlAddress } from '../dist-check/src/tor/address.js';
import { torFetch } from '../dist-check/src/tor/socks/index.js';
import { startNetwork } from '../dist-check/test/net/network.js';
import { startHttpTarget } from '../dist-check/test/net/targets.js';

const STREAMS = Number(process.env.STREAMS ?? 1000);
const CONCURRENCY = 20;
const hosts = ['a.bench.test', 'b.bench.test', 'c.bench.test', 'plain.test'];
const net = await startNetwork({ hosts: Object.fromEntries(hosts.map((h) => [h, ['127.0.0.1']])) });
const web = await startHttpTarget();
const dir = await mkdtemp(path.join(os.tmpdir(), 'tr-bench-attach-'));
try {
  const filler = Array.from({ length: 46 }, (_, i) => `    - { name: filler-${i}, match: { host: "*.nowhere-${i}.test", port: ${1000 + i} }, action: reject }`);
  const spec = path.join(dir, 'spec.yaml');
  await writeFile(
    spec,
    [
      'version: 1',
      'attach:',
      '  policies:',
      ...filler,
      '    - { name: a-via-us, match: { host: a.bench.test }, circuit: { exitCountry: [us] } }',
      '    - { name: b-via-de, match: { host: b.bench.test }, circuit: { exitCountry: [de] } }',
      '    - { name: c-per-host, match: { host: "*.bench.test" }, circuit: { isolate: per-host } }',
      '    - { name: rest, match: { host: "*" }, action: tor }',
      '',
    ].join('\n'),
  );
  const watcher = new Watcher({
    specFiles: [spec],
    control: formatControlAddress(net.client.tor.controlAddress),
    table: tableFor,
    log: () => {},
    load: async (table) => (await loadSpec([spec], table ? { table } : {})).state,
  });
  await watcher.start();
  const started = performance.now();
  let next = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < STREAMS) {
        const host = hosts[next++ % hosts.length];
        await torFetch(`http://${host}:${web.port}/`, { socks: net.socks, timeout: 60_000 }).catch(() => failed++);
      }
    }),
  );
  const wall = performance.now() - started;
  const stats = watcher.attachEngine.stats;
  const xs = [...stats.latencies].sort((a, b) => a - b);
  const pct = (p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
  await watcher.stop();
  console.log(`tor 0.4.9, node ${process.version}; private network bootstrapped in ${net.bootstrapMs} ms`);
  console.log(`${STREAMS} streams (${CONCURRENCY} at a time, ${failed} failed) under 50 policies in ${(wall / 1000).toFixed(1)} s; circuits built: ${stats.circuitsBuilt}`);
  console.log(`decision latency (STREAM NEW → ATTACHSTREAM answered), over ${xs.length} decisions: p50 ${pct(50).toFixed(2)} ms, p99 ${pct(99).toFixed(2)} ms, max ${xs.at(-1).toFixed(2)} ms`);
  const built = xs.filter((x) => x > 50).length;
  console.log(`(${built} decisions waited for a circuit to be built; the rest reused one)`);
} finally {
  await web.close();
  await net.stop();
  await rm(dir, { recursive: true, force: true });
}
