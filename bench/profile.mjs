// Profile what workload 1 misses: `node --cpu-prof` of the CLI applying N new ephemeral services (and of the
// no-op re-apply) on a fresh tor, then a summary: self and inclusive time per function, and per file.
//
//   npm run build && node bench/profile.mjs [N=1000] [--library]   (--library: bench/lib/reconcile-once.mjs)
//   node bench/profile.mjs --summary FILE.cpuprofile              (summarise an existing profile)
//   BENCH_DIST=/abs/dist node bench/profile.mjs …                  (profile another build than ./dist)
//
// Profiles are kept in bench/out/prof/.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { offlineLaunch } from '../test/helpers/offline.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = process.env.BENCH_DIST ?? path.join(root, 'dist');
const argv = process.argv.slice(2);

/** Self and inclusive time per function and per file, from a V8 .cpuprofile. */
export function summarize(profile, { top = 25 } = {}) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const rel = (url) => (url ? url.replace(/^file:\/\//, '').replace(root, '').replace(/^bench\/out\/[^/]+\//, '') : '(native)');
  const fnKey = (cf) => `${cf.functionName || '(anonymous)'} ${rel(cf.url)}:${cf.lineNumber + 1}`;
  const self = new Map();
  const incl = new Map();
  const fileSelf = new Map();
  const fileIncl = new Map();
  let total = 0;
  const add = (m, k, v) => m.set(k, (m.get(k) ?? 0) + v);
  profile.samples.forEach((id, i) => {
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    total += dt;
    const leaf = nodes.get(id);
    add(self, fnKey(leaf.callFrame), dt);
    add(fileSelf, rel(leaf.callFrame.url), dt);
    const seenF = new Set();
    const seenFile = new Set();
    for (let n = leaf; n; n = nodes.get(parent.get(n.id))) {
      const k = fnKey(n.callFrame);
      if (!seenF.has(k)) add(incl, k, dt), seenF.add(k);
      const f = rel(n.callFrame.url);
      if (!seenFile.has(f)) add(fileIncl, f, dt), seenFile.add(f);
    }
  });
  const pct = (v) => `${((v / total) * 100).toFixed(1).padStart(5)} %`;
  const table = (title, m) => {
    const lines = [`${title}`];
    for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${v.toFixed(0).padStart(6)} ms ${pct(v)}  ${k}`);
    return lines.join('\n');
  };
  return [
    `profile: ${total.toFixed(0)} ms sampled`,
    table('self time by function', self),
    table('inclusive time by function (src/dist only)', new Map([...incl].filter(([k]) => /dist\/|src\//.test(k)))),
    table('self time by file', fileSelf),
    table('inclusive time by file', fileIncl),
  ].join('\n\n');
}

if (argv[0] === '--summary') {
  for (const f of argv.slice(1)) console.log(`== ${f}\n${summarize(JSON.parse(await readFile(f, 'utf8')))}\n`);
  process.exit(0);
}

const { launch } = await import(pathToFileURL(path.join(dist, 'index.js')).href);
const N = Number(argv.find((a) => /^\d+$/.test(a)) ?? 1000);
const library = argv.includes('--library');
const profDir = path.join(root, 'bench/out/prof');
await rm(profDir, { recursive: true, force: true });
await mkdir(profDir, { recursive: true });
const tmp = await mkdtemp(path.join(os.tmpdir(), 'tr-prof-'));
const tor = await launch(offlineLaunch({ dataDirectory: path.join(tmp, 'tor'), options: { DisableNetwork: 1, SocksPort: 0 } }));
try {
  const lines = ['version: 1', `stateDirectory: ${path.join(tmp, 'state')}`, 'onionServices:'];
  for (let i = 0; i < N; i++) lines.push(`  - { name: e${i}, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: "127.0.0.1:9000" }] }`);
  const spec = path.join(tmp, 'spec.yaml');
  await writeFile(spec, lines.join('\n') + '\n');
  const control = `unix:${tor.controlAddress.path}`;
  for (const phase of ['apply', 'noop']) {
    const dir = path.join(profDir, phase);
    const script = library ? [path.join(root, 'bench/lib/reconcile-once.mjs'), 'apply', spec, control] : [path.join(dist, 'cli/main.cjs'), 'apply', spec, '--control', control];
    const t = process.hrtime.bigint();
    const r = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '200', ...script], { encoding: 'utf8', maxBuffer: 1 << 30, env: { ...process.env, NO_COLOR: '1', BENCH_DIST: dist } });
    const wall = Number(process.hrtime.bigint() - t) / 1e6;
    if (r.status !== 0) throw new Error(`${phase} failed: ${r.stderr}`);
    const [file] = await readdir(dir);
    console.log(`===== ${library ? 'library' : 'CLI'} ${phase === 'noop' ? 'no-op re-apply' : 'apply'} of ${N} ephemeral services: ${wall.toFixed(0)} ms whole process (profile ${path.join('bench/out/prof', phase, file)})`);
    if (library) console.log(r.stdout.trim());
    console.log(summarize(JSON.parse(await readFile(path.join(dir, file), 'utf8'))), '\n');
  }
} finally {
  await tor.stop();
  await rm(tmp, { recursive: true, force: true });
}
