// Key persistence and key reading (issue #16), against one tor, interleaved run by run:
// - in-process apply of N new ephemeral services (bench/lib/reconcile-once.mjs: keys generated and
//   persisted before ADD_ONION, the verifying re-read included), beside the raw pipelined floor (pregenerated
//   keys, every ADD_ONION written at once, nothing persisted) and the disk's floor for persisting the same keys
//   durably (one file of N keys written, fsynced and renamed, its directory fsynced): goal 3 compares the apply
//   with floor + disk floor;
// - the no-op re-plan of M services: the whole in-process plan, its readLiveState phase, and the key reading
//   alone in a fresh process (probeKeyFiles when the build has it, else probeKeyFile per key, as readLocal did);
// - what creating one key file per key costs on the same disk (temporary file, write, fsync, rename), for
//   comparison with the per-key layout.
//
//   npm run build && node bench/keys.mjs [--dist=DIR] [--compare=DIR] [--apply=1000] [--noop=5000] [--runs=5]
//
// --dist benchmarks another build than ./dist; --compare=DIR[,DIR…] runs other builds (e.g. an older commit
// compiled elsewhere) interleaved with the first, run by run, for before/after figures on one machine state.
// Prints a table and, as the last stdout line, the figures as JSON. Temporary files go to TMPDIR.
import { spawn } from 'node:child_process';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { offlineLaunch } from '../test/helpers/offline.mjs';
import { diskFloor } from './lib/disk-floor.mjs';
import { rawFloor } from './lib/raw-floor.mjs';

const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const root = fileURLToPath(new URL('..', import.meta.url));
const dist = path.resolve(arg('dist', path.join(root, 'dist')));
const load = (p) => import(pathToFileURL(path.join(dist, p)).href);
const now = () => performance.now();
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// A fresh process that only reads the keys of a no-op re-plan: `node bench/keys.mjs --probe=STATE_DIR --count=M`.
if (arg('probe')) {
  const state = arg('probe');
  const local = await load('reconcile/local.js');
  const records = await local.readRecords(state);
  const byFile = new Map([...records.values()].map((r) => [r.keyFile, r]));
  const files = Array.from({ length: Number(arg('count')) }, (_, i) => path.join(state, 'keys', `e${i}.key`));
  const t = now();
  const probed = local.probeKeyFiles
    ? await local.probeKeyFiles(files.map((file) => ({ file, record: byFile.get(file) })))
    : await Promise.all(files.map((file) => local.probeKeyFile(file, byFile.get(file))));
  const ms = now() - t;
  const bad = probed.filter((p) => !p.address).length;
  console.log(JSON.stringify({ ms, bad }));
  process.exit(0);
}

const N = Number(arg('apply', '1000'));
const M = Number(arg('noop', '5000'));
const RUNS = Number(arg('runs', '5'));
const log = (m) => process.stderr.write(`${m}\n`);
const once = path.join(root, 'bench/lib/reconcile-once.mjs');
const { launch, generateServiceKey } = await load('index.js');

const tmp = await mkdtemp(path.join(os.tmpdir(), 'tr-bench-keys-'));
const work = path.join(tmp, 'work');
const tor = await launch(offlineLaunch({ dataDirectory: path.join(tmp, 'tor'), options: { DisableNetwork: 1, SocksPort: 0 } }));
const control = `unix:${tor.controlAddress.path}`;

function runNode(argv, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { env: { ...process.env, BENCH_DIST: dist, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, 180_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      if (hung) return reject(Object.assign(new Error(`${argv.join(' ').slice(0, 120)}: no exit after 180 s, killed`), { hung }));
      if (code !== 0) return reject(new Error(`${argv.join(' ').slice(0, 120)}: exit ${code}\n${err.slice(0, 2000)}`));
      resolve(JSON.parse(last));
    });
  });
}

async function reset() {
  const detached = (await tor.client.getInfo('onions/detached')).split('\n').map((s) => s.trim()).filter(Boolean);
  await Promise.all(detached.map((id) => tor.client.delOnion(id)));
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true, mode: 0o700 });
}

async function spec(n, stateName) {
  const lines = ['version: 1', `stateDirectory: ${path.join(work, stateName)}`, 'onionServices:'];
  for (let i = 0; i < n; i++) lines.push(`  - { name: e${i}, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: "127.0.0.1:9000" }] }`);
  const file = path.join(tmp, `spec-${n}-${stateName}.yaml`);
  await writeFile(file, lines.join('\n') + '\n');
  return file;
}



/** One key file per key, the careful way (temporary file 0600, write, fsync, close, rename), then the directory. */
function perFileFloor(blobs) {
  const dir = path.join(tmp, `files-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir, { mode: 0o700 });
  const t = now();
  blobs.forEach((b, i) => {
    const fd = openSync(path.join(dir, `.e${i}.tmp`), 'wx', 0o600);
    writeSync(fd, `${b}\n`);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(path.join(dir, `.e${i}.tmp`), path.join(dir, `e${i}.key`));
  });
  const dfd = openSync(dir, 'r');
  fsyncSync(dfd);
  closeSync(dfd);
  const ms = now() - t;
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

const builds = [dist, ...(arg('compare') ? arg('compare').split(',').map((d) => path.resolve(d)) : [])];
const blank = () => ({ apply: [], applyKeys: [], noopPlan: [], noopRead: [], keyRead: [], keyReadPerFile: [] });
const figures = { N, M, runs: RUNS, builds: Object.fromEntries(builds.map((b) => [b, blank()])), raw: [], disk: [], perFile: [], torRead: [] };
try {
  const applySpec = await spec(N, 'state');
  for (let r = 0; r < RUNS; r++) {
    for (const b of builds) {
      await reset();
      // A build from before issue #16's fix may hang generating keys: counted, and the run retried.
      const a = await runNode([once, 'apply', applySpec, control], { BENCH_DIST: b }).catch(async (err) => {
        if (!err.hung) throw err;
        figures.builds[b].hangs = (figures.builds[b].hangs ?? 0) + 1;
        log(`${b}: apply hung, killed; retrying`);
        await reset();
        return runNode([once, 'apply', applySpec, control], { BENCH_DIST: b });
      });
      if (!a.ok) throw new Error(`apply failed: ${JSON.stringify(a.errors)}`);
      figures.builds[b].apply.push(a.total);
      figures.builds[b].applyKeys.push(a.phases.apply?.['generate-key'] ?? NaN);
      log(`${b}: apply ${N} run ${r + 1}/${RUNS}: ${a.total.toFixed(0)} ms, phases ${JSON.stringify(a.phases, (k, v) => (typeof v === 'number' ? Math.round(v) : v))}`);
    }
    await reset();
    const blobs = Array.from({ length: N }, () => generateServiceKey().toAddOnionBlob().reveal());
    figures.raw.push(await rawFloor(tor.controlAddress, path.join(tmp, 'tor', 'control_auth_cookie'), blobs.map((k) => `ADD_ONION ${k} Flags=Detach Port=80,127.0.0.1:9000\r\n`)));
    figures.disk.push(diskFloor(tmp, blobs));
    figures.perFile.push(perFileFloor(blobs));
    log(`floors run ${r + 1}/${RUNS}: raw ${figures.raw.at(-1).toFixed(1)} ms, disk ${figures.disk.at(-1).toFixed(1)} ms, one file per key ${figures.perFile.at(-1).toFixed(0)} ms`);
  }
  // The no-op re-plan: M services created once by the first build; the same keys are also laid out as one
  // file per key with no store (what builds before the key store wrote, and what the store migrates from).
  await reset();
  const stored = path.join(work, 'state');
  const perFile = path.join(work, 'state-per-file');
  const created = await runNode([once, 'apply', await spec(M, 'state'), control]);
  if (!created.ok) throw new Error(`apply of ${M} failed: ${JSON.stringify(created.errors)}`);
  await cp(stored, perFile, { recursive: true });
  await rm(path.join(perFile, 'keys', 'keystore.json'), { force: true });
  await writeFile(path.join(perFile, 'state.json'), (await readFile(path.join(stored, 'state.json'), 'utf8')).replaceAll(stored, perFile));
  const specs = { state: await spec(M, 'state'), 'state-per-file': await spec(M, 'state-per-file') };
  for (let r = 0; r < RUNS; r++) {
    for (const b of builds) {
      const p = await runNode([once, 'plan', specs.state, control], { BENCH_DIST: b });
      if (p.steps !== 0) throw new Error(`the no-op re-plan planned ${p.steps} steps`);
      figures.builds[b].noopPlan.push(p.total);
      figures.builds[b].noopRead.push(p.phases.readLiveState);
      for (const [layout, field] of [[stored, 'keyRead'], [perFile, 'keyReadPerFile']]) {
        const k = await runNode([fileURLToPath(import.meta.url), `--dist=${b}`, `--probe=${layout}`, `--count=${M}`]);
        if (k.bad) throw new Error(`${k.bad} keys did not read back`);
        figures.builds[b][field].push(k.ms);
      }
      log(`${b}: no-op plan ${M} run ${r + 1}/${RUNS}: ${p.total.toFixed(0)} ms, phases ${JSON.stringify(p.phases, (k, v) => (typeof v === 'number' ? Math.round(v) : v))}; key reading ${figures.builds[b].keyRead.at(-1).toFixed(1)} ms (one file per key: ${figures.builds[b].keyReadPerFile.at(-1).toFixed(1)} ms)`);
    }
    const t = now();
    await tor.client.getInfo('onions/detached');
    figures.torRead.push(now() - t);
  }
} finally {
  await tor.stop().catch(() => {});
  await rm(tmp, { recursive: true, force: true });
}

const m = (xs) => median(xs);
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const line = (what, v) => console.log(`${what.padEnd(66)} ${fmt(v).padStart(8)} ms`);
console.log(`medians of ${RUNS} runs, builds interleaved run by run`);
line(`raw pipelined floor, ${N} ADD_ONION`, m(figures.raw));
line(`disk floor: one file of ${N} keys written, fsynced, renamed`, m(figures.disk));
line(`one file per key (${N} × write, fsync, rename)`, m(figures.perFile));
line(`GETINFO onions/detached with ${M} services (one round trip)`, m(figures.torRead));
for (const b of builds) {
  const f = figures.builds[b];
  console.log(`build ${b}`);
  line(`  in-process apply of ${N} new ephemeral services`, m(f.apply));
  line('    of which generate-key (generate + persist)', m(f.applyKeys));
  line(`  no-op re-plan of ${M}, in-process`, m(f.noopPlan));
  line('    of which readLiveState', m(f.noopRead));
  line(`  key reading alone, ${M} keys, key store (fresh process)`, m(f.keyRead));
  line(`  key reading alone, ${M} keys, one file per key (fresh process)`, m(f.keyReadPerFile));
  f.goal3 = m(f.apply) / (m(figures.raw) + m(figures.disk));
  console.log(`  goal 3: apply ÷ (raw floor + disk floor) = ${f.goal3.toFixed(2)} (target ≤ 1.3)`);
}
console.log(JSON.stringify(figures));
