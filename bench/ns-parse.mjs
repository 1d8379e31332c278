// Parse `GETINFO ns/all` for N routers (default 10,000): our one-pass parser against stem's
// RouterStatusEntryV3 on the same text. Run: npm run build && node bench/ns-parse.mjs
// Needs /usr/bin/python3 with python3-stem (pyenv's python3 on PATH has no stem). N=… RUNS=… to change.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseNetworkStatus } from '../dist/tor/state/ns.js';

const N = Number(process.env.N ?? 10_000);
const RUNS = Number(process.env.RUNS ?? 15);
const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';

/** Deterministic, so every run parses the same document (mulberry32). */
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The flags tor prints, in its (alphabetical) order; routerstatus_format_entry writes them that way.
const FLAGS = ['Authority', 'BadExit', 'Exit', 'Fast', 'Guard', 'HSDir', 'MiddleOnly', 'Running', 'Stable', 'StaleDesc', 'Sybil', 'V2Dir', 'Valid'];
const POLICIES = ['reject 1-65535', 'accept 20-23,43,53,79-81,88,110,143,194,220,389,443,464,531,543-544,554,563,636,706,749,873,902-904,981,989-995,1194,1220,1293,1500,1533,1677,1723,1755,1863,2082-2083,2086-2087,2095-2096,2102-2104,3128,3389,3690,4321,4643,5050,5190,5222-5223,5228,5900,6660-6669,6679,6697,8000,8008,8074,8080,8087-8088,8332-8333,8443,8888,9418,9999-10000,11371,12350,19294,19638,23456,33033,64738', 'reject 25,119,135-139,445,563,1214,4661-4666,6346-6429,6699,6881-6999', 'accept 80,443'];

/**
 * What tor sends for GETINFO ns/all (routerstatus_format_entry, NS_CONTROL_PORT): per router an `r` line,
 * sometimes an `a` line, `s`, `w` and, when tor holds the full descriptor, `p`.
 */
function synthesize(n) {
  const rand = rng(0x5eed);
  const b64 = () => Buffer.from(Array.from({ length: 20 }, () => Math.floor(rand() * 256))).toString('base64').slice(0, 27);
  const lines = [];
  for (let i = 0; i < n; i++) {
    const ip = `${1 + Math.floor(rand() * 223)}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}.${1 + Math.floor(rand() * 254)}`;
    const day = String(1 + Math.floor(rand() * 28)).padStart(2, '0');
    const time = [rand() * 24, rand() * 60, rand() * 60].map((x) => String(Math.floor(x)).padStart(2, '0')).join(':');
    const dirPort = rand() < 0.3 ? 80 + Math.floor(rand() * 9000) : 0;
    lines.push(`r relay${i} ${b64()} ${b64()} 2024-05-${day} ${time} ${ip} ${1 + Math.floor(rand() * 65534)} ${dirPort}`);
    if (rand() < 0.2) lines.push(`a [2001:db8:${Math.floor(rand() * 65535).toString(16)}::${Math.floor(rand() * 65535).toString(16)}]:${1 + Math.floor(rand() * 65534)}`);
    lines.push(`s ${FLAGS.filter((f) => (f === 'Running' || f === 'Valid' ? true : f === 'Authority' ? i < 9 : rand() < 0.45)).join(' ')}`);
    lines.push(`w Bandwidth=${Math.floor(rand() * 100000)}${rand() < 0.1 ? ' Unmeasured=1' : ''}`);
    lines.push(`p ${POLICIES[Math.floor(rand() * POLICIES.length)]}`);
  }
  return lines.join('\n') + '\n';
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const doc = synthesize(N);
const dir = mkdtempSync(path.join(os.tmpdir(), 'tr-ns-bench-'));
const file = path.join(dir, 'ns-all.txt');
writeFileSync(file, doc);

try {
  for (let i = 0; i < 10; i++) parseNetworkStatus(doc); // JIT warm-up
  const ours = [];
  let parsed;
  for (let i = 0; i < RUNS; i++) {
    const t = process.hrtime.bigint();
    parsed = parseNetworkStatus(doc);
    ours.push(Number(process.hrtime.bigint() - t) / 1e6);
  }

  // Stem, both ways a caller meets it: validate=True parses everything up front; validate=False (what
  // Controller.get_network_statuses uses) parses lazily, so every field a caller reads is touched.
  const script = `
import io, json, sys, time
from stem.descriptor.router_status_entry import _parse_file, RouterStatusEntryV3
data = open(sys.argv[1], 'rb').read()
runs = int(sys.argv[2])
def eager():
    return list(_parse_file(io.BytesIO(data), True, entry_class=RouterStatusEntryV3))
def lazy():
    out = list(_parse_file(io.BytesIO(data), False, entry_class=RouterStatusEntryV3))
    for e in out:
        (e.nickname, e.fingerprint, e.digest, e.published, e.address, e.or_port, e.dir_port, e.or_addresses, e.flags, e.bandwidth, e.is_unmeasured, e.exit_policy)
    return out
def timed(fn):
    fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter(); r = fn(); ts.append((time.perf_counter() - t) * 1000)
    return sorted(ts)[len(ts) // 2], r
eager_ms, entries = timed(eager)
lazy_ms, _ = timed(lazy)
pick = lambda e: [e.nickname, e.fingerprint, e.address, e.or_port, e.dir_port, sorted(e.flags), e.bandwidth, str(e.exit_policy)]
print(json.dumps({'eager': eager_ms, 'lazy': lazy_ms, 'count': len(entries), 'sample': [pick(entries[i]) for i in (0, len(entries) // 2, len(entries) - 1)]}))
`;
  const stemRuns = Math.max(3, Math.min(RUNS, 5));
  const stem = JSON.parse(execFileSync(PYTHON, ['-c', script, file, String(stemRuns)], { encoding: 'utf8', maxBuffer: 1 << 26 }));

  const policy = (p) => `${p.action} ${p.ports.map((r) => (r.min === r.max ? r.min : `${r.min}-${r.max}`)).join(',')}`;
  // stem reports "no DirPort" as None where tor (and we) say 0.
  const pick = (e) => [e.nickname, e.fingerprint, e.address, e.orPort, e.dirPort || null, [...e.flags].sort(), e.bandwidth, policy(e.exitPolicy)];
  const mine = [0, Math.floor(parsed.length / 2), parsed.length - 1].map((i) => pick(parsed[i]));
  const agree = parsed.length === stem.count && JSON.stringify(mine) === JSON.stringify(stem.sample);

  const oursMs = median(ours);
  console.log(`ns/all with ${N} routers, ${(doc.length / 1e6).toFixed(2)} MB`);
  console.log(`  tor-reconcile parseNetworkStatus: ${oursMs.toFixed(1)} ms (median of ${RUNS}; min ${Math.min(...ours).toFixed(1)}, max ${Math.max(...ours).toFixed(1)})`);
  console.log(`  stem RouterStatusEntryV3, validate=True:            ${stem.eager.toFixed(1)} ms (median of ${stemRuns})   → ${(stem.eager / oursMs).toFixed(0)}× ours`);
  console.log(`  stem RouterStatusEntryV3, lazy + every field read:   ${stem.lazy.toFixed(1)} ms (median of ${stemRuns})   → ${(stem.lazy / oursMs).toFixed(0)}× ours`);
  console.log(`  same entries as stem (count and sampled fields): ${agree ? 'yes' : 'NO'}`);
  if (!agree) {
    console.log(JSON.stringify({ ours: mine, stem: stem.sample, count: [parsed.length, stem.count] }, null, 1));
    process.exitCode = 1;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
