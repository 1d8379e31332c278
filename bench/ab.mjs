// Before/after of a change to the CLI (issue #16): two builds and stem apply N new ephemeral services to one
// tor (DisableNetwork 1, its ControlSocket), whole process, the three interleaved in an order that rotates from
// run to run. The CLI runs as a user runs it (no TOR_RECONCILE_TRACE, unlike `npm run bench`, which counts
// commands). Prints median (min–max) per tool and the ratios.
//
//   git worktree add /tmp/before REV && (cd /tmp/before && npm ci && npm run build)
//   npm run build && node bench/ab.mjs --before=/tmp/before/dist [--after=./dist] [--n=1,100,1000] [--runs=7]
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { offlineLaunch } from '../test/helpers/offline.mjs';
import { ephemeralSpecText } from './lib/specs.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const before = arg('before');
if (!before) {
  console.error('usage: node bench/ab.mjs --before=DIST [--after=DIST] [--n=1,100,1000] [--runs=7]');
  process.exit(64);
}
const after = path.resolve(arg('after', path.join(root, 'dist')));
const sizes = arg('n', '1,100,1000').split(',').map(Number);
const runs = Number(arg('runs', '7'));
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
let stem = true;
try {
  execFileSync(PYTHON, ['-c', 'import stem'], { stdio: 'ignore' });
} catch {
  stem = false;
  console.error(`stem is not importable by ${PYTHON}: the stem column is skipped`);
}

const env = { ...process.env, NO_COLOR: '1' };
delete env.TOR_RECONCILE_TRACE;
/** Wall time of a spawned process from spawn to exit; throws with its stderr unless it exits 0. */
function timed(cmd, argv) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - t) : reject(new Error(`${cmd} ${argv.join(' ')} exited ${code}:\n${stderr.slice(-2000)}`))));
  });
}

const tmp = await mkdtemp(path.join(os.tmpdir(), 'tr-ab-'));
const { launch } = await import(pathToFileURL(path.join(after, 'index.js')).href);
const tor = await launch(offlineLaunch({ dataDirectory: path.join(tmp, 'tor'), options: { DisableNetwork: 1, SocksPort: 0 } }));
const control = `unix:${tor.controlAddress.path}`;
const state = path.join(tmp, 'state');

/** Tor without detached services, and no state directory: every run applies N new services. */
async function reset() {
  const detached = (await tor.client.getInfo('onions/detached')).split('\n').map((s) => s.trim()).filter(Boolean);
  await Promise.all(detached.map((id) => tor.client.delOnion(id)));
  await rm(state, { recursive: true, force: true });
  await rm(path.join(tmp, 'stem-keys'), { recursive: true, force: true });
}

/** The bin of a build: cli/main.cjs, or cli/main.js in builds before the bin was CommonJS. */
const bin = (dist) => (existsSync(path.join(dist, 'cli/main.cjs')) ? path.join(dist, 'cli/main.cjs') : path.join(dist, 'cli/main.js'));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const stat = (xs) => `${median(xs).toFixed(0)} ms (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;
try {
  console.log(`before ${before}\nafter  ${after}\n${runs} runs per size, interleaved; whole process, apply N new ephemeral services over the ControlSocket\n`);
  console.log('| N | before | after | stem | after / before | after / stem |\n|--:|--:|--:|--:|--:|--:|');
  for (const n of sizes) {
    const spec = path.join(tmp, `ephemeral-${n}.yaml`);
    await writeFile(spec, ephemeralSpecText(n, state));
    const times = { before: [], after: [], stem: [] };
    const tools = [
      ['before', () => timed(process.execPath, [bin(before), 'apply', spec, '--control', control])],
      ['after', () => timed(process.execPath, [bin(after), 'apply', spec, '--control', control])],
      ...(stem ? [['stem', () => timed(PYTHON, [path.join(root, 'bench/stem/ephemeral.py'), control, String(n), path.join(tmp, 'stem-keys')])]] : []),
    ];
    for (let r = 0; r < runs; r++) {
      for (let i = 0; i < tools.length; i++) {
        const [name, run] = tools[(i + r) % tools.length];
        await reset();
        times[name].push(await run());
      }
    }
    const ratio = (a, b) => (b.length ? `${(median(a) / median(b)).toFixed(2)} ×` : '—');
    console.log(`| ${n.toLocaleString('en')} | ${stat(times.before)} | ${stat(times.after)} | ${stem ? stat(times.stem) : '—'} | ${ratio(times.after, times.before)} | ${ratio(times.after, times.stem)} |`);
  }
} finally {
  await tor.stop();
  await rm(tmp, { recursive: true, force: true });
}
