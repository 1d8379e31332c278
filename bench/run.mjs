// tor-reconcile beside stem and beside tor's own floor, on one tor, in one run (issue #9).
//
//   npm run build && npm run bench          full run (≈10 minutes): writes BENCHMARKS.md and bench/chart.svg
//   npm run bench:quick                     smoke run (< 1 minute, for CI): writes bench/out/BENCHMARKS.quick.md
//
// Flags: --quick (fewer sizes and runs; report under bench/out/ unless --write), --write (quick run writes
// BENCHMARKS.md too), --strict (exit 1 when a target is missed), --keep (keep the temporary directories),
// --only=REGEX (only the sections whose name matches), --dist=DIR (benchmark a prebuilt dist), --runs=N (at most N
// runs per size of the workloads by size).
// The code under test is frozen at the start: src/ compiled into bench/out/snapshot-PID/ (./dist itself is
// neither used nor touched, so a rebuild during the run changes nothing). Temporary files go to TMPDIR.
// Every run also leaves its raw figures in bench/out/results[.quick].json.
//
// One tor is launched (launch() from the build: DisableNetwork 1, a ControlSocket and a TCP ControlPort), and
// every workload runs against it; between runs tor is put back to a clean state (every detached onion
// service deleted, RESETCONF HiddenServiceDir and the benchmark's options, state and service directories
// removed). Each figure is the median of several runs with the min–max beside it:
// - whole process: a spawned process (the CLI, a node script, python) from spawn to exit;
// - in-process: time measured inside that process, from reading the spec (or connecting, for stem and the
//   floor) to the last reply — tor-reconcile's through bench/lib/reconcile-once.mjs, which wires the library
//   the way the CLI does.
// The no-op figures come from TOR_RECONCILE_TRACE=1: every command the CLI sends and its round-trip count.
//
// Workloads 4, 5 and 7 come from scripts of their own, run against the same frozen build when they exist:
// bench/watch.mjs (issue #6: drift-revert latency, memory over 10,000 reconciles; its own tor; its text
// output is parsed) and bench/ns-parse.mjs (issue #7: ns/all parsing vs stem). For ns-parse.mjs the harness
// takes, as the last stdout line, JSON {"rows":[{"tool","what","median","min","max","unit"}],
// "throughputRatio"?: number, "agree"?: boolean} (throughputRatio = tor-reconcile's routers/s ÷ stem's), or
// else parses the text it prints today; its output is quoted in the report either way. Without them the
// report says "not measured yet".
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { cpSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { offlineLaunch } from '../test/helpers/offline.mjs';
import { chartSvg } from './lib/chart.mjs';
import { diskFloor } from './lib/disk-floor.mjs';
import { onLines } from './lib/lines.mjs';
import { ephemeralSpecText } from './lib/specs.mjs';
import { rawFloor } from './lib/raw-floor.mjs';

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const STRICT = args.has('--strict');
const WRITE_MAIN = !QUICK || args.has('--write');
const root = fileURLToPath(new URL('..', import.meta.url));
const benchDir = path.join(root, 'bench');
const outDir = path.join(benchDir, 'out');
const once = path.join(benchDir, 'lib/reconcile-once.mjs');
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const log = (m) => process.stderr.write(`${m}\n`);

/**
 * The code under test, frozen for the whole run: the working tree's src/ compiled into a private directory
 * (bench/out/snapshot-PID/dist, beside a copy of package.json, so node_modules still resolve), so that a
 * rebuild of ./dist during the run cannot mix two versions. `--dist DIR` freezes a prebuilt dist instead;
 * when src/ does not compile, ./dist is frozen as it is, with a warning.
 */
function snapshot() {
  const dir = path.join(root, 'bench/out', `snapshot-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
  const given = process.argv.find((a) => a.startsWith('--dist='))?.slice('--dist='.length);
  let source;
  if (given) {
    cpSync(path.resolve(given), path.join(dir, 'dist'), { recursive: true });
    source = `prebuilt ${given}`;
  } else {
    const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json'), '--outDir', path.join(dir, 'dist')], { cwd: root, encoding: 'utf8' });
    // The CLI as `npm run build` ships it: bundled over tsc's output (scripts/build-cli.mjs).
    const bundle = tsc.status === 0 ? spawnSync(process.execPath, [path.join(root, 'scripts/build-cli.mjs'), path.join(dir, 'dist')], { cwd: root, encoding: 'utf8' }) : tsc;
    if (bundle.status === 0) source = 'src/ of the working tree, compiled and the CLI bundled at the start of the run';
    else {
      log(`src/ does not compile right now (${(bundle.stdout + bundle.stderr).trim().split('\n')[0]}); benchmarking ./dist as it is`);
      rmSync(path.join(dir, 'dist'), { recursive: true, force: true });
      cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true });
      source = './dist as built before the run (src/ did not compile)';
    }
  }
  // Bench scripts written against ../dist (watch.mjs, ns-parse.mjs) run from here against the frozen build.
  mkdirSync(path.join(dir, 'bench'));
  for (const f of ['watch.mjs', 'ns-parse.mjs']) if (existsSync(path.join(root, 'bench', f))) cpSync(path.join(root, 'bench', f), path.join(dir, 'bench', f));
  cpSync(path.join(root, 'bench/lib'), path.join(dir, 'bench/lib'), { recursive: true });
  // The loopback guard they start their tors through (test/helpers/offline.mjs).
  cpSync(path.join(root, 'test/helpers/offline.mjs'), path.join(dir, 'test/helpers/offline.mjs'));
  const check = spawnSync(process.execPath, [path.join(dir, 'dist/cli/main.cjs'), '--version'], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`the frozen build does not start: ${check.stderr.trim().split('\n').slice(0, 6).join('\n')}`);
  return { dir, dist: path.join(dir, 'dist'), source };
}
const snap = snapshot();
const cli = path.join(snap.dist, 'cli/main.cjs');
const { launch, generateClientAuthKeyPair, generateServiceKey, IMMUTABLE_OPTIONS } = await import(pathToFileURL(path.join(snap.dist, 'index.js')).href);

/** How much of each workload: sizes, runs per size, transports. */
const PLAN = QUICK
  ? {
      ephemeral: { sizes: [1, 100, 1000], runs: { 1: 3, 100: 2, 1000: 1 }, transports: ['unix'] },
      ephemeralTcp: null,
      filesystem: { sizes: [1, 100], runs: { 1: 2, 100: 1 } },
      options: { runs: 2, transports: ['unix', 'tcp'] },
      coldStart: { runs: 3 },
      // Smoke only: CI time must not grow (issue #16).
      startup: { runs: 3 },
      replan: { n: 100, runs: 3 },
      diskFloor: { runs: 3 },
    }
  : {
      ephemeral: { sizes: [1, 100, 1000, 5000], runs: { 1: 5, 100: 5, 1000: 5, 5000: 3 }, transports: ['unix', 'tcp'] },
      ephemeralTcp: null,
      filesystem: { sizes: [1, 100, 1000], runs: { 1: 5, 100: 5, 1000: 3 } },
      options: { runs: 5, transports: ['unix', 'tcp'] },
      coldStart: { runs: 7 },
      startup: { runs: 11 },
      replan: { n: 5000, runs: 7 },
      diskFloor: { runs: 5 },
    };
// --runs=N: at most N runs per size of the workloads by size (a shorter full run when the machine is busy).
const RUNS_CAP = Number(process.argv.find((a) => a.startsWith('--runs='))?.slice('--runs='.length) ?? Infinity);
for (const part of Object.values(PLAN)) {
  if (!part) continue;
  if (part.runs && typeof part.runs === 'object') for (const n of Object.keys(part.runs)) part.runs[n] = Math.min(part.runs[n], RUNS_CAP);
}
const OPTION_COUNT = 50;
/** Commands that change nothing in tor; anything else in a no-op trace counts as mutating. */
const READ_ONLY = new Set(['GETINFO', 'GETCONF', 'PROTOCOLINFO', 'AUTHENTICATE', 'AUTHCHALLENGE', 'ONION_CLIENT_AUTH_VIEW', 'SETEVENTS', 'USEFEATURE', 'QUIT']);

// ───────────────────────────────────────────── small helpers ─────────────────────────────────────────────

const ms = (ns) => Number(ns) / 1e6;
const now = () => process.hrtime.bigint();
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const stat = (xs) => (xs.length ? { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs.length } : null);
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const fmtStat = (s) => (s ? `${fmt(s.median)} ms (${fmt(s.min)}–${fmt(s.max)})` : '—');
const started = now();
const elapsed = () => `${(ms(now() - started) / 1000).toFixed(0)}s`;

/** Spawn and wait; wall time from spawn to exit. Throws with stderr on a non-zero exit unless allowed. */
function run(cmd, argv, { env, allowFail = false, timeout = 300_000 } = {}) {
  return new Promise((resolve, reject) => {
    const t = now();
    const child = spawn(cmd, argv, { env: { ...(env ?? process.env), BENCH_DIST: snap.dist }, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(cmd)} ${argv.join(' ').slice(0, 200)}: no exit after ${timeout / 1000} s, killed`));
    }, timeout);
    const out = [];
    const err = [];
    let wall;
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.on('error', reject);
    child.on('exit', () => (wall = ms(now() - t)));
    child.on('close', (code) => {
      clearTimeout(timer);
      const r = { code, wall, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
      if (code !== 0 && !allowFail) reject(new Error(`${path.basename(cmd)} ${argv.join(' ').slice(0, 200)} exited ${code}:\n${r.stderr.slice(-2000)}${r.stdout.slice(-1000)}`));
      else resolve(r);
    });
  });
}

const cliEnv = (() => {
  const env = { ...process.env, NO_COLOR: '1', TOR_RECONCILE_TRACE: '1' };
  delete env.FORCE_COLOR;
  return env;
})();

/** `> …` lines of TOR_RECONCILE_TRACE: commands, round trips, and the commands that change something. */
function parseTrace(stderr) {
  const lines = stderr.split('\n').filter((l) => l.startsWith('> '));
  const last = lines.length ? /^> (\d+) commands in (\d+) round trips after authentication(?: \(and (\d+) keyless GETINFO .*\))?$/.exec(lines[lines.length - 1]) : null;
  if (!last) throw new Error(`no TOR_RECONCILE_TRACE summary in:\n${stderr.slice(-1000)}`);
  const cmds = lines.slice(0, -1).map((l) => l.slice(2).split(' ')[0]);
  const mutating = cmds.filter((c) => !READ_ONLY.has(c.toUpperCase()));
  return { commands: Number(last[1]), roundTrips: Number(last[2]), nudges: Number(last[3] ?? 0), mutating: mutating.length, mutatingKinds: [...new Set(mutating)] };
}

const lastJson = (stdout) => JSON.parse(stdout.trim().split('\n').pop());

/** Run the tools of one run in an order that rotates from run to run, so no tool always goes first. */
async function rotate(r, tools) {
  for (let i = 0; i < tools.length; i++) await tools[(i + r) % tools.length]();
}

const STEM = (() => {
  try {
    return execFileSync(PYTHON, ['-c', 'import stem; print(stem.__version__)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
})();
if (!STEM) log(`stem is not importable by ${PYTHON} (Debian: apt-get install python3-stem): the stem side is skipped`);

// ───────────────────────────────────────────── results ─────────────────────────────────────────────

/** Raw timings: key → { times: [], inproc: [], … }. */
const results = new Map();
function record(key, fields) {
  let r = results.get(key);
  if (!r) results.set(key, (r = { whole: [], inproc: [], traces: [], phases: [] }));
  if (fields.whole !== undefined) r.whole.push(fields.whole);
  if (fields.inproc !== undefined) r.inproc.push(fields.inproc);
  if (fields.trace) r.traces.push(fields.trace);
  if (fields.phases) r.phases.push(fields.phases);
}
const key = (...parts) => parts.join('|');

// ───────────────────────────────────────────── the tor ─────────────────────────────────────────────

const tmp = await mkdtemp(path.join(os.tmpdir(), 'tr-bench-'));
const torDir = path.join(tmp, 'tor');
const portFile = path.join(tmp, 'tcp-port');
log(`tor-reconcile bench${QUICK ? ' --quick' : ''}: temporary directory ${tmp}`);

/**
 * What creating key files costs in the benchmark's directory, the way a careful writer does it (temporary
 * file, 0600, write, fsync, close, rename) and without the fsync: the disk sets a floor under any tool that
 * persists one file per key, and it differs a lot from one directory to another (and when the disk is busy).
 */
function fileCalibration(n = CALIBRATION_FILES) {
  const dir = path.join(tmp, `calibrate-${Math.random().toString(36).slice(2)}`);
  const out = {};
  for (const sync of [false, true]) {
    mkdirSync(dir, { mode: 0o700 });
    const t = now();
    for (let i = 0; i < n; i++) {
      const fd = openSync(path.join(dir, `.k${i}.tmp`), 'wx', 0o600);
      writeSync(fd, `ED25519-V3:${'A'.repeat(86)}==\n`);
      if (sync) fsyncSync(fd);
      closeSync(fd);
      renameSync(path.join(dir, `.k${i}.tmp`), path.join(dir, `k${i}.key`));
    }
    out[sync ? 'fsync' : 'noFsync'] = ms(now() - t);
    rmSync(dir, { recursive: true, force: true });
  }
  out.oneFile = diskFloor(tmp, n);
  return out;
}

const CALIBRATION_FILES = QUICK ? 200 : 1000;
const load = { start: os.loadavg(), calibrationStart: fileCalibration() };
if (load.start[0] > os.cpus().length / 2) log(`note: load average ${load.start[0].toFixed(2)} on ${os.cpus().length} cores — other work is running, figures will be noisy`);
const tor = await launch(offlineLaunch({ dataDirectory: torDir, options: { DisableNetwork: 1, SocksPort: 0, ControlPort: 'auto', ControlPortWriteToFile: portFile } }));
const client = tor.client;
const tcpMatch = /PORT=([\d.]+):(\d+)/.exec(await readFile(portFile, 'utf8'));
const addresses = {
  unix: { control: `unix:${tor.controlAddress.path}`, raw: { type: 'unix', path: tor.controlAddress.path } },
  tcp: { control: `tcp:${tcpMatch[1]}:${tcpMatch[2]}`, raw: { type: 'tcp', host: tcpMatch[1], port: Number(tcpMatch[2]) } },
};
const cookieFile = path.join(torDir, 'control_auth_cookie');
let scratchTor;

let benchOptions = []; // the 50 options of workload 3: [{ name, type, value, yaml }]
const workDir = path.join(tmp, 'work');

/** Put tor back to a clean state: no detached onions, no HiddenService block, the bench options at their defaults. */
async function resetTor() {
  let timer;
  await Promise.race([
    resetTorNow(),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('resetting tor took more than 120 s')), 120_000);
    }),
  ]).finally(() => clearTimeout(timer));
}
async function resetTorNow() {
  const detached = (await client.getInfo('onions/detached')).split('\n').map((s) => s.trim()).filter(Boolean);
  await Promise.all(detached.map((id) => client.delOnion(id)));
  await client.resetConf(['HiddenServiceDir']);
  if (benchOptions.length) await client.resetConf(benchOptions.map((o) => o.name));
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  const left = (await client.getInfo('onions/detached')).trim();
  if (left) throw new Error(`reset left detached onions: ${left.slice(0, 200)}`);
}

// ───────────────────────────────────────────── the raw floor ─────────────────────────────────────────────


/**
 * Latency of single SETCONF round trips on one open raw connection (the floor beside workload 4's drift
 * revert): each command written alone, timed until its `250 OK`. Returns the per-command times.
 */
async function rawRoundTrips(address, commands) {
  const cookie = await readFile(cookieFile);
  const sock = address.type === 'unix' ? net.connect(address.path) : net.connect(address.port, address.host);
  await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  sock.setNoDelay(true);
  let next;
  onLines(sock, (l) => {
    if (/^\d\d\d /.test(l)) next?.(l);
  });
  const send = (line) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${line.trim()} in 30 s`)), 30_000);
      next = (l) => {
        clearTimeout(timer);
        if (l.startsWith('250 ')) resolve();
        else reject(new Error(`${line.trim()}: ${l}`));
      };
      sock.write(line);
    });
  await send(`AUTHENTICATE ${cookie.toString('hex')}\r\n`);
  const times = [];
  for (const c of commands) {
    const t = now();
    await send(c);
    times.push(ms(now() - t));
  }
  sock.destroy();
  return times;
}

const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

async function setconfRoundTrip(transport, count) {
  const o = benchOptions.find((x) => x.type === 'Integer') ?? benchOptions[0];
  const alt = [o.value, String(Number(o.value) + 1)];
  const times = await rawRoundTrips(addresses[transport].raw, Array.from({ length: count }, (_, i) => `SETCONF ${o.name}=${alt[i % 2]}\r\n`));
  await client.resetConf([o.name]);
  const k = key('setconf-rt', transport, 1, 'raw floor');
  for (const t of times) record(k, { inproc: t });
  results.get(k).option = o.name;
}

// ───────────────────────────────────────────── specs ─────────────────────────────────────────────

async function ephemeralSpec(n, stateDir) {
  const file = path.join(tmp, `ephemeral-${n}.yaml`);
  await writeFile(file, ephemeralSpecText(n, stateDir));
  return file;
}

async function filesystemSpec(n, parent) {
  const lines = ['version: 1', `stateDirectory: ${path.join(parent, 'state')}`, 'onionServices:'];
  for (let i = 0; i < n; i++) lines.push(`  - { name: fs${i}, type: filesystem, directory: "${path.join(parent, `fs${i}`)}", ports: [{ port: 80, target: "127.0.0.1:9000" }] }`);
  const file = path.join(tmp, `filesystem-${n}.yaml`);
  await writeFile(file, lines.join('\n') + '\n');
  return file;
}

async function optionsSpec() {
  const lines = ['version: 1', `stateDirectory: ${path.join(workDir, 'state')}`, 'options:'];
  for (const o of benchOptions) lines.push(`  ${o.name}: ${o.yaml}`);
  const file = path.join(tmp, 'options.yaml');
  await writeFile(file, lines.join('\n') + '\n');
  const json = path.join(tmp, 'options.json');
  await writeFile(json, JSON.stringify(Object.fromEntries(benchOptions.map((o) => [o.name, o.value]))));
  return { file, json };
}

/** Like bench/spec-validate.mjs: half filesystem, half ephemeral, two ports, per-service options, a client each. */
function validateSpec(n) {
  const lines = ['version: 1', 'tor: { control: unix:/run/tor/control }', 'options:', '  ExitNodes: ["{de}", "{ch}"]', '  MaxCircuitDirtiness: 10 minutes', 'onionServices:'];
  for (let i = 0; i < n; i++) {
    const ports = `    ports: [{ port: 80, target: 127.0.0.1:${8000 + (i % 1000)} }, { port: 443, target: "unix:/run/s${i}.sock" }]`;
    const client = `      - { name: client${i}, publicKey: ${generateClientAuthKeyPair().publicKey} }`;
    if (i % 2 === 0) lines.push(`  - name: fs${i}`, '    type: filesystem', `    directory: ./hs/fs${i}/`, ports, '    options: { HiddenServiceMaxStreams: 100 }', '    authorizedClients:', client);
    else lines.push(`  - name: eph${i}`, '    type: ephemeral', '    key: { generate: true }', ports, '    maxStreams: 10', '    authorizedClients:', client);
  }
  return lines.join('\n') + '\n';
}

// ───────────────────────────────────────────── workload 1: ephemeral ─────────────────────────────────────────────

async function ephemeral(transport, n, runs) {
  const { control, raw } = addresses[transport];
  const stateDir = path.join(workDir, 'state');
  const spec = await ephemeralSpec(n, stateDir);
  for (let r = 0; r < runs; r++) {
    await rotate(r, [
      async () => {
        await resetTor();
        const apply = await run(process.execPath, [cli, 'apply', spec, '--control', control], { env: cliEnv });
        record(key('ephemeral', transport, n, 'tor-reconcile CLI'), { whole: apply.wall, trace: parseTrace(apply.stderr) });
        const noop = await run(process.execPath, [cli, 'apply', spec, '--control', control], { env: cliEnv });
        record(key('ephemeral-noop', transport, n, 'tor-reconcile CLI'), { whole: noop.wall, trace: parseTrace(noop.stderr) });
      },
      async () => {
        await resetTor();
        const lib = await run(process.execPath, [once, 'apply', spec, control]);
        const lr = lastJson(lib.stdout);
        record(key('ephemeral', transport, n, 'tor-reconcile library'), { whole: lib.wall, inproc: lr.total, phases: lr.phases });
        const libNoop = await run(process.execPath, [once, 'apply', spec, control]);
        const ln = lastJson(libNoop.stdout);
        if (ln.steps !== 0) throw new Error(`library no-op re-apply planned ${ln.steps} steps`);
        record(key('ephemeral-noop', transport, n, 'tor-reconcile library'), { whole: libNoop.wall, inproc: ln.total, phases: ln.phases, trace: libTrace(ln) });
      },
      async () => {
        if (!STEM) return;
        await resetTor();
        const py = await run(PYTHON, [path.join(benchDir, 'stem/ephemeral.py'), control, String(n), path.join(workDir, 'stem-keys')]);
        record(key('ephemeral', transport, n, 'stem'), { whole: py.wall, inproc: lastJson(py.stdout).total });
        const count = (await client.getInfo('onions/detached')).split('\n').filter((x) => x.trim()).length;
        if (count !== n) throw new Error(`stem left ${count} detached services, expected ${n}`);
      },
      async () => {
        await resetTor();
        const keys = Array.from({ length: n }, () => generateServiceKey().toAddOnionBlob().reveal());
        const floor = await rawFloor(raw, cookieFile, keys.map((k) => `ADD_ONION ${k} Flags=Detach Port=80,127.0.0.1:9000\r\n`));
        record(key('ephemeral', transport, n, 'raw floor'), { inproc: floor });
      },
    ]);
  }
  await resetTor();
}

const libTrace = (j) => ({ commands: j.commands, roundTrips: j.roundTrips, nudges: j.nudges ?? 0, mutating: 0, mutatingKinds: [] });

// ───────────────────────────────────────────── workload 2: filesystem ─────────────────────────────────────────────

async function filesystem(n, runs) {
  const { control, raw } = addresses.unix;
  const parent = path.join(workDir, 'hs');
  const spec = await filesystemSpec(n, parent);
  const assertCount = async (who) => {
    const entries = await client.getConfEntries(['HiddenServiceOptions']);
    const dirs = entries.filter(([k]) => k === 'HiddenServiceDir').length;
    if (dirs !== n) throw new Error(`${who} left ${dirs} filesystem services, expected ${n}`);
  };
  for (let r = 0; r < runs; r++) {
    await rotate(r, [
      async () => {
        await resetTor();
        const apply = await run(process.execPath, [cli, 'apply', spec, '--control', control], { env: cliEnv });
        record(key('filesystem', 'unix', n, 'tor-reconcile CLI'), { whole: apply.wall, trace: parseTrace(apply.stderr) });
        await assertCount('tor-reconcile');
        const noop = await run(process.execPath, [cli, 'plan', spec, '--control', control, '--detailed-exitcode'], { env: cliEnv });
        record(key('filesystem-noop', 'unix', n, 'tor-reconcile CLI'), { whole: noop.wall, trace: parseTrace(noop.stderr) });
      },
      async () => {
        await resetTor();
        const lib = await run(process.execPath, [once, 'apply', spec, control]);
        const lr = lastJson(lib.stdout);
        record(key('filesystem', 'unix', n, 'tor-reconcile library'), { whole: lib.wall, inproc: lr.total, phases: lr.phases });
        const libNoop = await run(process.execPath, [once, 'plan', spec, control]);
        const ln = lastJson(libNoop.stdout);
        if (ln.steps !== 0) throw new Error(`library no-op re-plan has ${ln.steps} steps`);
        record(key('filesystem-noop', 'unix', n, 'tor-reconcile library'), { whole: libNoop.wall, inproc: ln.total, phases: ln.phases, trace: libTrace(ln) });
      },
      async () => {
        if (!STEM) return;
        await resetTor();
        const py = await run(PYTHON, [path.join(benchDir, 'stem/filesystem.py'), control, String(n), parent]);
        record(key('filesystem', 'unix', n, 'stem'), { whole: py.wall, inproc: lastJson(py.stdout).total });
        await assertCount('stem');
      },
      async () => {
        // Floor: the directories exist already (untimed), one SETCONF with the whole block.
        await resetTor();
        const dirs = Array.from({ length: n }, (_, i) => path.join(parent, `fs${i}`));
        for (const d of dirs) await mkdir(d, { recursive: true, mode: 0o700 });
        const setconf = `SETCONF ${dirs.map((d) => `HiddenServiceDir="${d}" HiddenServicePort="80 127.0.0.1:9000"`).join(' ')}\r\n`;
        record(key('filesystem', 'unix', n, 'raw floor'), { inproc: await rawFloor(raw, cookieFile, [setconf]) });
        await assertCount('raw floor');
      },
    ]);
  }
  await resetTor();
}

// ───────────────────────────────────────────── workload 3: options ─────────────────────────────────────────────

/** The value an option gets in the benchmark: something other than its default, in tor's form. */
function changedValue(type, current) {
  const n = Number(current);
  if (type === 'Boolean') return current === '1' ? '0' : '1';
  if (!Number.isFinite(n)) return undefined;
  if (type === 'Integer') return String(n + 1);
  if (type === 'TimeInterval') return String(n + 60);
  return undefined;
}

/** Options that would cut the benchmark off from tor or turn it into something else, whatever tor accepts. */
const UNSAFE = /^(__|Testing|AuthDir|Control|Cookie|Bridge|V3Auth|DisableNetwork$|UseBridges$|ClientOnly$|AuthoritativeDirectory$|V3AuthoritativeDirectory$|VersioningAuthoritativeDirectory$|DataDirectoryGroupReadable$|ReloadTorrcOnSIGHUP$|OfflineMasterKey$|TruncateLogFile$|Dormant|ConnLimit$|ConstrainedSockets$|ClientUseIPv4$|ClientUseIPv6$)/;

/**
 * Find OPTION_COUNT options tor accepts changing at runtime with DisableNetwork 1, on a scratch tor: Boolean,
 * Integer and TimeInterval options from `GETINFO config/names` that are not immutable and not unsafe for the
 * benchmark, in tor's table order; each candidate joins the set only if a SETCONF of the whole set with it
 * succeeds and reads back exactly, then the set is reset.
 */
async function discoverOptions() {
  const dir = path.join(tmp, 'scratch-tor');
  scratchTor = await launch(offlineLaunch({ dataDirectory: dir, options: { DisableNetwork: 1, SocksPort: 0 } }));
  const c = scratchTor.client;
  const names = (await c.getInfo('config/names')).split('\n').map((l) => l.trim().split(' ')).filter(([n, t]) => n && ['Boolean', 'Integer', 'TimeInterval'].includes(t));
  const candidates = names.filter(([n]) => !IMMUTABLE_OPTIONS.has(n) && !UNSAFE.test(n));
  const current = await c.getConf(candidates.map(([n]) => n));
  const chosen = [];
  let tried = 0;
  for (const [name, type] of candidates) {
    if (chosen.length === OPTION_COUNT) break;
    const value = changedValue(type, (current.get(name) ?? [''])[0]);
    if (value === undefined) continue;
    tried++;
    const set = [...chosen, { name, type, value }];
    try {
      await c.setConf(set.map((o) => [o.name, o.value]));
      const back = await c.getConf(set.map((o) => o.name));
      if (set.every((o) => (back.get(o.name) ?? [])[0] === o.value)) chosen.push({ name, type, value });
    } catch {
      // refused: not a candidate
    }
    await c.resetConf(set.map((o) => o.name));
  }
  await scratchTor.stop();
  scratchTor = undefined;
  if (chosen.length < OPTION_COUNT) throw new Error(`only ${chosen.length} options found changeable (of ${tried} tried)`);
  benchOptions = chosen.map((o) => ({ ...o, yaml: o.type === 'Boolean' ? (o.value === '1' ? 'true' : 'false') : o.value }));
  return { tried, candidates: candidates.length };
}

async function options(transport, runs) {
  const { control, raw } = addresses[transport];
  const { file: spec, json } = await optionsSpec();
  const check = async (who) => {
    const back = await client.getConf(benchOptions.map((o) => o.name));
    const wrong = benchOptions.filter((o) => (back.get(o.name) ?? [])[0] !== o.value);
    if (wrong.length) throw new Error(`${who}: ${wrong.length} options not set (${wrong.map((o) => o.name).join(', ')})`);
  };
  for (let r = 0; r < runs; r++) {
    await rotate(r, [
      async () => {
        await resetTor();
        const apply = await run(process.execPath, [cli, 'apply', spec, '--control', control], { env: cliEnv });
        record(key('options', transport, OPTION_COUNT, 'tor-reconcile CLI'), { whole: apply.wall, trace: parseTrace(apply.stderr) });
        await check('tor-reconcile');
        const noop = await run(process.execPath, [cli, 'plan', spec, '--control', control, '--detailed-exitcode'], { env: cliEnv });
        record(key('options-noop', transport, OPTION_COUNT, 'tor-reconcile CLI'), { whole: noop.wall, trace: parseTrace(noop.stderr) });
      },
      async () => {
        await resetTor();
        const lib = await run(process.execPath, [once, 'apply', spec, control]);
        const lr = lastJson(lib.stdout);
        record(key('options', transport, OPTION_COUNT, 'tor-reconcile library'), { whole: lib.wall, inproc: lr.total, phases: lr.phases });
        const libNoop = await run(process.execPath, [once, 'plan', spec, control]);
        const ln = lastJson(libNoop.stdout);
        if (ln.steps !== 0) throw new Error(`library no-op plan of the options has ${ln.steps} steps`);
        record(key('options-noop', transport, OPTION_COUNT, 'tor-reconcile library'), { whole: libNoop.wall, inproc: ln.total, phases: ln.phases, trace: libTrace(ln) });
      },
      async () => {
        if (!STEM) return;
        await resetTor();
        const py = await run(PYTHON, [path.join(benchDir, 'stem/options.py'), control, json]);
        record(key('options', transport, OPTION_COUNT, 'stem'), { whole: py.wall, inproc: lastJson(py.stdout).total });
        await check('stem');
      },
      async () => {
        await resetTor();
        const setconf = `SETCONF ${benchOptions.map((o) => `${o.name}=${o.value}`).join(' ')}\r\n`;
        record(key('options', transport, OPTION_COUNT, 'raw floor'), { inproc: await rawFloor(raw, cookieFile, [setconf]) });
        await check('raw floor');
      },
    ]);
  }
  await resetTor();
}

// ───────────────────────────────────────────── workload 6: cold start ─────────────────────────────────────────────

async function coldStart(runs) {
  const file = path.join(tmp, 'validate-1000.yaml');
  await writeFile(file, validateSpec(1000));
  for (let r = 0; r < runs; r++) {
    record(key('cold', '-', 1000, 'node -e 0'), { whole: (await run(process.execPath, ['-e', '0'])).wall });
    record(key('cold', '-', 1000, 'tor-reconcile --version'), { whole: (await run(process.execPath, [cli, '--version'])).wall });
    record(key('cold', '-', 1000, 'tor-reconcile validate'), { whole: (await run(process.execPath, [cli, 'validate', file])).wall });
  }
}

// ───────────────────────────────────────────── issue #16: start-up, disk floor, re-plan ─────────────────────────────────────────────

/**
 * Goal 2: `node -e 0`, `--version`, `validate` of a one-service spec and a no-op `plan` of that service
 * (applied first, over the ControlSocket), interleaved run by run so that load hits all four alike; beside
 * them one GETINFO round trip on an open raw connection, the "one round trip" a plan needs at least.
 */
async function startup(runs) {
  const { control, raw } = addresses.unix;
  const spec = await ephemeralSpec(1, path.join(workDir, 'state'));
  await resetTor();
  await run(process.execPath, [cli, 'apply', spec, '--control', control], { env: cliEnv });
  const tools = {
    'node -e 0': [process.execPath, ['-e', '0']],
    'tor-reconcile --version': [process.execPath, [cli, '--version']],
    'tor-reconcile validate': [process.execPath, [cli, 'validate', spec]],
    'tor-reconcile plan (no-op)': [process.execPath, [cli, 'plan', spec, '--control', control, '--detailed-exitcode']],
  };
  for (let r = 0; r < runs; r++) {
    await rotate(
      r,
      Object.entries(tools).map(([tool, [cmd, argv]]) => async () => record(key('startup', 'unix', 1, tool), { whole: (await run(cmd, argv)).wall })),
    );
  }
  for (const t of await rawRoundTrips(raw, Array.from({ length: 50 }, () => 'GETINFO version\r\n'))) record(key('startup', 'unix', 1, 'one round trip'), { inproc: t });
  await resetTor();
}


/**
 * Goal 4: a no-op re-plan of N ephemeral services in one process (bench/lib/replan.mjs: loadSpec of the
 * unchanged spec, readLiveState, computePlan on an open connection) beside the time tor takes to answer the
 * same read commands on a raw connection, interleaved.
 */
async function replanGoal(n, runs) {
  const { control } = addresses.unix;
  const spec = await ephemeralSpec(n, path.join(workDir, 'state'));
  await resetTor();
  await run(process.execPath, [cli, 'apply', spec, '--control', control], { env: cliEnv });
  const r = await run(process.execPath, [path.join(benchDir, 'lib/replan.mjs'), spec, control, cookieFile, String(runs)], { env: { ...process.env, BENCH_DIST: snap.dist } });
  const j = lastJson(r.stdout);
  for (const [i, t] of j.replan.entries()) record(key('replan', 'unix', n, 'tor-reconcile library'), { inproc: t, phases: j.phases[i] });
  for (const t of j.read) record(key('replan', 'unix', n, 'read floor'), { inproc: t });
  results.get(key('replan', 'unix', n, 'read floor')).commands = j.commands;
  await resetTor();
}

// ───────────────────────────────────────────── workloads 4 and 7: bench/watch.mjs (when it exists)

/**
 * bench/watch.mjs (issue #6) measures both on a tor of its own: drift-revert latency beside a raw SETCONF
 * round trip, and memory over RECONCILES reconciles after a warm-up. Its text output is parsed; anything it
 * prints that does not parse is quoted verbatim in the report.
 */
async function watchBench() {
  const script = path.join(snap.dir, 'bench/watch.mjs');
  if (!existsSync(script)) return null;
  const env = { ...process.env, ...(QUICK ? { DRIFTS: '200', RECONCILES: '1000', ONION_DELETES: '10' } : { DRIFTS: '1000', RECONCILES: '10000', ONION_DELETES: '40' }) };
  const r = await run(process.execPath, ['--expose-gc', script], { env, allowFail: true, timeout: 600_000 });
  const out = { code: r.code, wall: r.wall, stdout: r.stdout, stderr: r.stderr, drifts: Number(env.DRIFTS), reconciles: Number(env.RECONCILES) };
  const drift = /drift-revert latency over (\d+) drifts.*?p50 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms/.exec(r.stdout);
  if (drift) out.drift = { n: Number(drift[1]), p50: Number(drift[2]), p99: Number(drift[3]), max: Number(drift[4]) };
  const raw = /one raw SETCONF round trip.*?p50 ([\d.]+) ms, p99 ([\d.]+) ms/.exec(r.stdout);
  if (raw) out.raw = { p50: Number(raw[1]), p99: Number(raw[2]) };
  const memLine = r.stdout.split('\n').findIndex((l) => l.startsWith('memory after'));
  if (memLine >= 0) {
    out.memoryHeader = r.stdout.split('\n')[memLine];
    out.memory = [...r.stdout.split('\n')[memLine + 1].matchAll(/([\d.]+) \/ ([\d.]+)/g)].map((m) => ({ rss: Number(m[1]), heap: Number(m[2]) }));
  }
  const rec = /reconciles ok (\d+), errors (\d+)/.exec(r.stdout);
  if (rec) out.reconcileCounts = { ok: Number(rec[1]), errors: Number(rec[2]) };
  return out;
}

// ───────────────────────────────────────────── workload 5 (when it exists) ─────────────────────────────────────────────

async function nsParse() {
  const script = path.join(snap.dir, 'bench/ns-parse.mjs');
  if (!existsSync(script)) return null;
  const r = await run(process.execPath, [script], { env: { ...process.env, PYTHON, ...(QUICK ? { BENCH_QUICK: '1', RUNS: '3' } : {}) }, allowFail: true });
  let json = null;
  try {
    json = lastJson(r.stdout);
  } catch {
    // Not JSON: the text ns-parse.mjs prints today (quoted verbatim too).
    const ours = /parseNetworkStatus: ([\d.]+) ms/.exec(r.stdout);
    const stems = [...r.stdout.matchAll(/stem .*?: +([\d.]+) ms/g)].map((m) => Number(m[1]));
    const agree = /same entries as stem.*: yes/.test(r.stdout);
    if (ours && stems.length && r.code === 0) json = { throughputRatio: Math.min(...stems) / Number(ours[1]), agree, fromText: true };
  }
  return { code: r.code, wall: r.wall, json, stdout: r.stdout, stderr: r.stderr };
}

// ───────────────────────────────────────────── machine and versions ─────────────────────────────────────────────

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  return { cpu: model.trim(), cores: os.cpus().length, ramGiB: os.totalmem() / 2 ** 30, kernel: `${os.type()} ${os.release()}` };
}

function versions() {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  let git = '';
  try {
    git = execFileSync('git', ['-C', root, 'describe', '--always', '--dirty'], { encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  const stem = STEM ?? 'not installed';
  const python = execFileSync(PYTHON, ['--version'], { encoding: 'utf8' }).trim();
  return { node: process.version, tor: client.version, stem, python, torReconcile: `${pkg.version}${git ? ` (${git})` : ''}` };
}

// ───────────────────────────────────────────── run everything ─────────────────────────────────────────────

const timings = {};
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
async function section(name, fn) {
  if (only && !new RegExp(only).test(name) && !name.includes('finding')) return;
  const t = now();
  log(`[${elapsed()}] ${name}…`);
  await fn();
  timings[name] = ms(now() - t) / 1000;
}

let discovery;
let ns = null;
let watch = null;
let exitCode = 0;
try {
  const sp = PLAN.ephemeral;
  for (const transport of sp.transports) {
    for (const n of sp.sizes) await section(`workload 1: ${n} ephemeral service${n === 1 ? '' : 's'} over ${transport}`, () => ephemeral(transport, n, sp.runs[n]));
  }
  if (PLAN.ephemeralTcp) for (const n of PLAN.ephemeralTcp.sizes) await section(`workload 1: ${n} ephemeral service${n === 1 ? '' : 's'} over tcp`, () => ephemeral('tcp', n, PLAN.ephemeralTcp.runs[n]));
  for (const n of PLAN.filesystem.sizes) await section(`workload 2: ${n} filesystem service${n === 1 ? '' : 's'} over unix`, () => filesystem(n, PLAN.filesystem.runs[n]));
  await section(`workload 3: finding ${OPTION_COUNT} options changeable at runtime (scratch tor)`, async () => (discovery = await discoverOptions()));
  for (const transport of PLAN.options.transports) await section(`workload 3: ${OPTION_COUNT} options over ${transport}`, () => options(transport, PLAN.options.runs));
  for (const transport of PLAN.options.transports) await section(`workload 4 (floor only): one raw SETCONF round trip over ${transport}`, () => setconfRoundTrip(transport, QUICK ? 200 : 1000));
  await section('workload 6: cold start of validate (1,000 services)', () => coldStart(PLAN.coldStart.runs));
  await section('issue 16 goal 2: start-up (node -e 0, --version, validate, no-op plan of one service)', () => startup(PLAN.startup.runs));
  await section('issue 16 goal 3: disk floor (one key file for N keys, fsync, rename)', async () => {
    for (let r = 0; r < PLAN.diskFloor.runs; r++) for (const n of PLAN.ephemeral.sizes) record(key('disk-floor', '-', n, 'disk floor'), { inproc: diskFloor(tmp, n) });
  });
  await section(`issue 16 goal 4: no-op re-plan of ${PLAN.replan.n.toLocaleString('en')} services in-process`, () => replanGoal(PLAN.replan.n, PLAN.replan.runs));
  await section('workloads 4 and 7: bench/watch.mjs', async () => (watch = await watchBench()));
  await section('workload 5: bench/ns-parse.mjs', async () => (ns = await nsParse()));
} catch (err) {
  log(`bench failed: ${err.stack ?? err}`);
  exitCode = 2;
} finally {
  load.end = os.loadavg();
  load.calibrationEnd = fileCalibration();
  await scratchTor?.stop().catch(() => {});
  const torLog = await readFile(tor.logPath, 'utf8').catch(() => '');
  await tor.stop().catch(() => {});
  const warnings = torLog.split('\n').filter((l) => /\[(warn|err)\]/.test(l));
  if (exitCode && warnings.length) log(`tor's warnings:\n${warnings.slice(-20).join('\n')}`);
  if (!args.has('--keep')) await rm(tmp, { recursive: true, force: true });
}
process.on('exit', () => {
  if (!args.has('--keep')) rmSync(snap.dir, { recursive: true, force: true });
});
if (exitCode) process.exit(exitCode);

// ───────────────────────────────────────────── report ─────────────────────────────────────────────

const info = { machine: machine(), versions: versions(), load };
const get = (...k) => results.get(key(...k));
const S = (k, field) => (k ? stat(k[field]) : null);

/** Rows of the main table. */
const rows = [];
const label = { ephemeral: 'W1 apply N new ephemeral services', 'ephemeral-noop': 'W1 no-op re-apply', filesystem: 'W2 apply N filesystem services', 'filesystem-noop': 'W2 no-op re-plan', options: 'W3 change 50 options', 'options-noop': 'W3 no-op plan of 50 options', cold: 'W6 cold start (1,000-service spec)', startup: 'G2 start-up, one-service spec', 'disk-floor': 'G3 disk floor: N keys in one durable file', replan: 'G4 no-op re-plan in-process' };
for (const [k, r] of results) {
  const [workload, transport, n, tool] = k.split('|');
  if (workload === 'setconf-rt') continue;
  const traces = r.traces;
  const nudges = Math.max(0, ...traces.map((t) => t.nudges ?? 0));
  const rt = traces.length ? `${Math.max(...traces.map((t) => t.roundTrips))} RT, ${Math.max(...traces.map((t) => t.commands))} cmd, ${Math.max(...traces.map((t) => t.mutating))} mutating${nudges ? `, ≤ ${nudges} nudge${nudges > 1 ? 's' : ''}` : ''}` : '';
  rows.push({ workload, what: label[workload], transport, n: Number(n), tool, whole: stat(r.whole), inproc: stat(r.inproc), rt, runs: Math.max(r.whole.length, r.inproc.length) });
}

// Targets.
const targets = [];
const at = 1000;
for (const transport of ['unix', 'tcp']) {
  const lib = S(get('ephemeral', transport, at, 'tor-reconcile library'), 'inproc');
  const floor = S(get('ephemeral', transport, at, 'raw floor'), 'inproc');
  if (lib && floor) {
    const ratio = lib.median / floor.median;
    targets.push({ name: `W1 at 1,000 (${transport}): in-process ≤ 1.3 × raw pipelined floor`, met: ratio <= 1.3, value: `${ratio.toFixed(2)} × (${fmt(lib.median)} ms vs ${fmt(floor.median)} ms)` });
  }
  const libPhases = get('ephemeral', transport, at, 'tor-reconcile library')?.phases ?? [];
  if (floor && libPhases.some((p) => p.apply?.['add-onion'] !== undefined)) {
    const cmd = median(libPhases.map((p) => p.apply['add-onion'] + (p.connect ?? 0)));
    targets.push({ name: `(for comparison, not a target) W1 at 1,000 (${transport}): connect + the pipelined ADD_ONION batch alone vs the floor`, met: null, info: true, value: `${(cmd / floor.median).toFixed(2)} × (${fmt(cmd)} ms vs ${fmt(floor.median)} ms)` });
  }
  const cliW = S(get('ephemeral', transport, at, 'tor-reconcile CLI'), 'whole');
  const stemW = S(get('ephemeral', transport, at, 'stem'), 'whole');
  if (cliW && !stemW) targets.push({ name: `W1 at 1,000 (${transport}): whole process below stem's`, met: null, value: 'not measured (stem not installed)' });
  if (cliW && stemW) targets.push({ name: `W1 at 1,000 (${transport}): whole process below stem's`, met: cliW.median < stemW.median, value: `${fmt(cliW.median)} ms vs stem ${fmt(stemW.median)} ms (${(cliW.median / stemW.median).toFixed(2)} ×)` });
}
for (const [k, r] of results) {
  const [workload, transport, n, tool] = k.split('|');
  if (!workload.endsWith('-noop') || tool !== 'tor-reconcile CLI') continue;
  const worstRt = Math.max(...r.traces.map((t) => t.roundTrips));
  const worstMut = Math.max(...r.traces.map((t) => t.mutating));
  const kinds = [...new Set(r.traces.flatMap((t) => t.mutatingKinds))];
  targets.push({ name: `${label[workload]}, ${Number(n).toLocaleString('en')} ${workload.startsWith('options') ? 'options' : n === '1' ? 'service' : 'services'} (${transport}): ≤ 2 round trips after auth, 0 mutating`, met: worstRt <= 2 && worstMut === 0, value: `${worstRt} round trip${worstRt === 1 ? '' : 's'}, ${worstMut} mutating${kinds.length ? ` (${kinds.join(', ')})` : ''}` });
}
if (ns?.json?.throughputRatio !== undefined) targets.push({ name: "W5: ns/all parsing ≥ 3 × stem's throughput", met: ns.json.throughputRatio >= 3 && ns.json.agree !== false, value: `${ns.json.throughputRatio.toFixed(1)} × (bench/ns-parse.mjs, 10,000 synthetic routers; against stem's faster mode${ns.json.agree === false ? '; but the parsed entries differ from stem' : ''})` });
else targets.push({ name: "W5: ns/all parsing ≥ 3 × stem's throughput", met: null, value: 'not measured yet (needs issue #7: TorState / ns/all parser; bench/ns-parse.mjs)' });
const W7 = 'W7: watch-mode memory flat after warm-up (heap used grows ≤ max(1 MiB, 5 %) from the first sample after warm-up to the last)';
if (watch?.memory?.length >= 2) {
  const first = watch.memory[0];
  const lastM = watch.memory[watch.memory.length - 1];
  const growth = lastM.heap - first.heap;
  const met = growth <= Math.max(1, first.heap * 0.05) && (watch.reconcileCounts?.errors ?? 0) === 0;
  targets.push({ name: W7, met, value: `heap ${first.heap.toFixed(1)} → ${lastM.heap.toFixed(1)} MiB (${growth >= 0 ? '+' : ''}${growth.toFixed(1)}), RSS ${first.rss.toFixed(1)} → ${lastM.rss.toFixed(1)} MiB over ${watch.reconciles.toLocaleString('en')} reconciles${watch.reconcileCounts ? `, ${watch.reconcileCounts.errors} errors` : ''}` });
} else targets.push({ name: W7, met: null, value: watch ? `bench/watch.mjs gave no memory figures (exit ${watch.code})` : 'not measured yet (needs issue #6: watch mode; bench/watch.mjs)' });

// Issue #16's goals: ratios from this run, met or missed.
const goals = [];
const ratio = (a, b) => `${(a / b).toFixed(2)} ×`;
for (const transport of ['unix', 'tcp']) {
  for (const n of PLAN.ephemeral.sizes) {
    const cliW = S(get('ephemeral', transport, n, 'tor-reconcile CLI'), 'whole');
    if (!cliW) continue;
    const stemW = S(get('ephemeral', transport, n, 'stem'), 'whole');
    const name = `G1 apply ${n.toLocaleString('en')} new ephemeral service${n === 1 ? '' : 's'} (${transport}), whole process: faster than stem`;
    goals.push(stemW ? { name, met: cliW.median < stemW.median, value: `${fmt(cliW.median)} ms vs stem ${fmt(stemW.median)} ms (${ratio(cliW.median, stemW.median)})` } : { name, met: null, value: 'stem not installed' });
  }
}
{
  const node0 = S(get('startup', 'unix', 1, 'node -e 0'), 'whole');
  const rt = S(get('startup', 'unix', 1, 'one round trip'), 'inproc');
  for (const [tool, what] of [['tor-reconcile --version', '`--version`'], ['tor-reconcile validate', '`validate` of a one-service spec']]) {
    const t = S(get('startup', 'unix', 1, tool), 'whole');
    if (node0 && t) goals.push({ name: `G2 ${what} ≤ 1.5 × \`node -e 0\``, met: t.median <= 1.5 * node0.median, value: `${ratio(t.median, node0.median)} (${fmt(t.median)} ms vs ${fmt(node0.median)} ms)` });
  }
  const plan = S(get('startup', 'unix', 1, 'tor-reconcile plan (no-op)'), 'whole');
  if (node0 && plan && rt) {
    const bound = 2 * node0.median + rt.median;
    goals.push({ name: 'G2 no-op `plan` of one service ≤ 2 × `node -e 0` + one round trip', met: plan.median <= bound, value: `${fmt(plan.median)} ms vs ${fmt(bound)} ms = 2 × ${fmt(node0.median)} + ${fmt(rt.median)} ms (${ratio(plan.median - rt.median, node0.median)} \`node -e 0\` once the round trip is taken off)` });
  }
}
for (const transport of ['unix', 'tcp']) {
  const lib = S(get('ephemeral', transport, 1000, 'tor-reconcile library'), 'inproc');
  const floor = S(get('ephemeral', transport, 1000, 'raw floor'), 'inproc');
  const disk = S(get('disk-floor', '-', 1000, 'disk floor'), 'inproc');
  if (lib && floor && disk) {
    const bound = floor.median + disk.median;
    goals.push({ name: `G3 in-process apply of 1,000 (${transport}) ≤ 1.3 × (raw pipelined floor + disk floor)`, met: lib.median <= 1.3 * bound, value: `${ratio(lib.median, bound)} (${fmt(lib.median)} ms vs ${fmt(floor.median)} + ${fmt(disk.median)} ms)` });
  }
}
{
  const n = PLAN.replan.n;
  const lib = S(get('replan', 'unix', n, 'tor-reconcile library'), 'inproc');
  const read = S(get('replan', 'unix', n, 'read floor'), 'inproc');
  if (lib && read) {
    const ph = get('replan', 'unix', n, 'tor-reconcile library').phases;
    const p = (name) => fmt(median(ph.map((x) => x[name] ?? 0)));
    goals.push({ name: `G4 no-op re-plan of ${n.toLocaleString('en')} services in-process ≤ 3 × tor's answer to its read`, met: lib.median <= 3 * read.median, value: `${ratio(lib.median, read.median)} (${fmt(lib.median)} ms vs ${fmt(read.median)} ms for ${get('replan', 'unix', n, 'read floor').commands.join(', ')}; loadSpec ${p('loadSpec')}, readLiveState ${p('readLiveState')}, computePlan ${p('computePlan')} ms)` });
  }
}
goals.push({ name: 'G5 durability: a generated key is on disk, fsynced, before tor hears of it', met: null, value: 'not a benchmark figure: the crash suite (test/reliability) decides' });

// ── stdout table ──
const table = [['workload', 'transport', 'N', 'tool', 'whole process', 'in-process', 'control traffic']];
const order = ['ephemeral', 'ephemeral-noop', 'filesystem', 'filesystem-noop', 'options', 'options-noop', 'cold', 'startup', 'disk-floor', 'replan'];
const toolOrder = ['tor-reconcile CLI', 'tor-reconcile library', 'stem', 'raw floor', 'node -e 0', 'tor-reconcile --version', 'tor-reconcile validate', 'tor-reconcile plan (no-op)', 'one round trip', 'read floor'];
rows.sort((a, b) => order.indexOf(a.workload) - order.indexOf(b.workload) || a.transport.localeCompare(b.transport) * -1 || a.n - b.n || toolOrder.indexOf(a.tool) - toolOrder.indexOf(b.tool));
for (const r of rows) table.push([r.what, r.transport, String(r.n), r.tool, fmtStat(r.whole), fmtStat(r.inproc), r.rt]);
const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
const text = table.map((row) => row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
console.log(`\ntor-reconcile ${info.versions.torReconcile}, tor ${info.versions.tor}, stem ${info.versions.stem}, node ${info.versions.node}; ${info.machine.cpu}, ${info.machine.cores} cores`);
console.log(`median (min–max) of the runs; whole process = spawn to exit; in-process = inside the process\n`);
console.log(text);
for (const transport of ['unix', 'tcp']) {
  const r = results.get(key('setconf-rt', transport, 1, 'raw floor'));
  if (r) console.log(`W4 floor: one raw SETCONF round trip over ${transport}: p50 ${fmt(percentile(r.inproc, 50))} ms, p99 ${fmt(percentile(r.inproc, 99))} ms (${r.inproc.length} round trips)`);
}
if (watch?.drift) console.log(`W4 watch mode (bench/watch.mjs, its own tor): drift-revert latency p50 ${fmt(watch.drift.p50)} ms, p99 ${fmt(watch.drift.p99)} ms, max ${fmt(watch.drift.max)} ms over ${watch.drift.n} drifts${watch.raw ? `; one raw SETCONF round trip there p50 ${fmt(watch.raw.p50)} ms, p99 ${fmt(watch.raw.p99)} ms` : ''}`);
if (watch?.memory) console.log(`W7 watch mode memory (RSS / heap used, MiB): ${watch.memory.map((m) => `${m.rss.toFixed(1)} / ${m.heap.toFixed(1)}`).join(' → ')}`);
console.log('\nGoals (issue #16):');
for (const g of goals) console.log(`  ${g.met === null ? 'n/a   ' : g.met ? 'met   ' : 'MISSED'}  ${g.name}: ${g.value}`);
console.log('\nTargets (issue #9):');
for (const t of targets) console.log(`  ${t.met === null ? (t.info ? 'info  ' : 'n/a   ') : t.met ? 'met   ' : 'MISSED'}  ${t.name}: ${t.value}`);
const totalSeconds = ms(now() - started) / 1000;
console.log(`\ntotal ${totalSeconds.toFixed(0)} s`);

// ── BENCHMARKS.md + chart ──
const chart = chartSvg({
  title: 'Time vs number of onion services (median, min–max whiskers; ControlSocket)',
  panels: [
    {
      title: 'Workload 1: apply N new ephemeral services',
      series: ['tor-reconcile CLI|whole', 'tor-reconcile library|inproc', 'stem|whole', 'raw floor|inproc'].map((s) => seriesOf('ephemeral', s)),
    },
    {
      title: 'Workload 2: apply N filesystem services',
      series: ['tor-reconcile CLI|whole', 'tor-reconcile library|inproc', 'stem|whole', 'raw floor|inproc'].map((s) => seriesOf('filesystem', s)),
    },
  ],
});
function seriesOf(workload, spec) {
  const [tool, field] = spec.split('|');
  const names = { 'tor-reconcile CLI|whole': 'tor-reconcile CLI (whole process)', 'tor-reconcile library|inproc': 'tor-reconcile library (in-process)', 'stem|whole': 'stem (whole process)', 'raw floor|inproc': 'raw pipelined floor' };
  const points = [];
  for (const [k, r] of results) {
    const [w, transport, n, t] = k.split('|');
    if (w === workload && transport === 'unix' && t === tool && r[field].length) points.push({ x: Number(n), ...stat(r[field]) });
  }
  return { name: names[spec], points: points.sort((a, b) => a.x - b.x) };
}

await mkdir(outDir, { recursive: true });
const suffix = QUICK ? '.quick' : '';
await writeFile(path.join(outDir, `results${suffix}.json`), JSON.stringify({ info, plan: PLAN, benchOptions, results: Object.fromEntries(results), targets, timings }, null, 1));
if (WRITE_MAIN) {
  await writeFile(path.join(benchDir, 'chart.svg'), chart);
  await writeFile(path.join(root, 'BENCHMARKS.md'), markdown('bench/chart.svg'));
  log(`wrote BENCHMARKS.md and bench/chart.svg`);
} else {
  await writeFile(path.join(outDir, 'chart.quick.svg'), chart);
  await writeFile(path.join(outDir, 'BENCHMARKS.quick.md'), markdown('chart.quick.svg'));
  log(`wrote bench/out/BENCHMARKS.quick.md and bench/out/chart.quick.svg`);
}
if (STRICT && [...targets, ...goals].some((t) => t.met === false)) process.exitCode = 1;

function markdown(chartLink) {
  const m = info.machine;
  const v = info.versions;
  const L = [];
  const cell = (s) => s.replace(/\|/g, '\\|');
  L.push('# Benchmarks', '');
  if (process.env.BENCH_NOTE) L.push(`> ${process.env.BENCH_NOTE}`, '');
  L.push(`Generated by \`npm run bench${QUICK ? ':quick' : ''}\` (bench/run.mjs) on ${new Date().toISOString().slice(0, 10)}; the whole run took ${totalSeconds.toFixed(0)} s.${QUICK ? ' **Quick mode: few runs, smaller sizes — a smoke test, not figures to quote.**' : ''}`, '');
  L.push('## Machine and versions', '');
  L.push(`- CPU: ${m.cpu}, ${m.cores} cores; RAM ${m.ramGiB.toFixed(1)} GiB; ${m.kernel}`);
  L.push(`- tor ${v.tor} (Debian), one tor for every workload: \`DisableNetwork 1\`, a ControlSocket and a TCP ControlPort on 127.0.0.1, cookie authentication`);
  L.push(`- tor-reconcile ${v.torReconcile} — ${snap.source}; node ${v.node}`);
  L.push(`- stem ${v.stem} (Debian python3-stem), ${v.python}`);
  const la = (x) => x.map((y) => y.toFixed(2)).join(' / ');
  L.push(`- Load average (1/5/15 min) at the start ${la(load.start)}, at the end ${la(load.end)}${Math.max(load.start[0], load.end[0]) > m.cores / 2 ? ' — **other work was running on this machine during the run: expect noise**' : ''}`);
  L.push(`- The disk under the benchmark's directory (${path.dirname(tmp)}): creating ${CALIBRATION_FILES.toLocaleString('en')} small files (temporary file 0600, write, rename) took ${fmt(load.calibrationStart.noFsync)} ms without fsync and ${fmt(load.calibrationStart.fsync)} ms with an fsync each at the start of the run, ${fmt(load.calibrationEnd.noFsync)} / ${fmt(load.calibrationEnd.fsync)} ms at the end. Every tool that keeps one file per key pays this; set TMPDIR to measure on another disk. The disk's floor for persisting the same keys durably in one file (written, fsynced, renamed, directory fsynced; what the key store does): ${fmt(load.calibrationStart.oneFile)} ms at the start, ${fmt(load.calibrationEnd.oneFile)} ms at the end.`, '');
  L.push('## How to read this', '');
  L.push('- Every figure: **median** of the runs, (min–max) beside it; the number of runs is in the last column.');
  L.push('- **Whole process**: wall time of a spawned process from spawn to exit (node or python start-up included). For the tor-reconcile CLI that is `node dist/cli/main.cjs apply|plan SPEC --control …`, plan rendering on stdout included.');
  L.push('- **In-process**: time measured inside the process. tor-reconcile: `bench/lib/reconcile-once.mjs`, which wires the library as the CLI does (loadSpec → connect → readLiveState → computePlan → applyPlan, with apply\'s verifying re-read), from reading the spec to the verified result. stem: from connecting to the last reply (bench/stem/*.py). Raw floor: a minimal node:net client, from connecting (cookie authentication included) to the last `250 OK`, every command written at once.');
  L.push('- **Control traffic**: from `TOR_RECONCILE_TRACE=1` (the CLI) or the connection\'s counters (the library): round trips and commands after authentication, and how many of them change something (anything but GETINFO, GETCONF, SETEVENTS, ONION_CLIENT_AUTH_VIEW…), the largest over the runs.');
  L.push('- Between runs tor is reset: every detached onion service deleted, `RESETCONF HiddenServiceDir` and the benchmark\'s options, state and service directories removed.');
  L.push('- Ephemeral services: tor-reconcile generates each key locally and persists it (0600, written atomically with fsync) before ADD_ONION; stem asks tor for a key (`key_type=\'NEW\', key_content=\'ED25519-V3\'`) and writes each returned key to its own 0600 file (no fsync); the floor sends pregenerated keys (`generateServiceKey().toAddOnionBlob()`) and persists nothing.', '');
  L.push('## Goals (issue #16)', '');
  L.push('Ratios from this one run, every side measured interleaved with the others (medians). G1 compares whole processes (node or python start-up included); G2 runs a one-service spec over the ControlSocket (the plan is a no-op: the service was applied first), and "one round trip" is a GETINFO on an open raw connection; G3\'s disk floor is one file holding all the keys, written, fsynced and renamed, and the directory fsynced; G4 re-plans in one process with the connection open (bench/lib/replan.mjs) and its floor is the same read commands written at once on a raw connection.', '');
  L.push('| goal | result | figure |', '|---|---|---|');
  for (const g of goals) L.push(`| ${cell(g.name)} | ${g.met === null ? 'not measured here' : g.met ? '**met**' : '**missed**'} | ${cell(g.value)} |`);
  L.push('');
  L.push('**The ~40 ms stalls over TCP** (the raw floor shows them too, e.g. ADD_ONION × 100): tor never sets `TCP_NODELAY` on an accepted control connection (strace of tor: no `setsockopt(…, TCP_NODELAY, …)` after `accept4` on the ControlPort), so Nagle holds the last small segment of a reply until the previous one is acknowledged, and the client\'s kernel delays that acknowledgement (Linux: at least 40 ms, TCP_DELACK_MIN). `setNoDelay` on the client side (tor-reconcile sets it) cannot help, since the held data is tor\'s; Node offers no TCP_QUICKACK. What the client can do is send data of its own, which carries the acknowledgement: over TCP, when tor\'s data leaves a command waiting and nothing else is being written, tor-reconcile writes a keyless `GETINFO` (answered `250 OK`, changing nothing; NUDGE in src/tor/connection.ts; counted apart from the commands, as nudges). The raw floor does not, so over TCP it still shows the stalls. Over the ControlSocket there is no Nagle: prefer it where tor offers one (a launched tor is always reached through its socket when the path fits).', '');
  L.push('## Figures', '');
  L.push('| workload | transport | N | tool | whole process | in-process | control traffic | runs |', '|---|---|--:|---|--:|--:|---|--:|');
  for (const r of rows) L.push(`| ${cell(r.what)} | ${r.transport} | ${r.n.toLocaleString('en')} | ${r.tool} | ${fmtStat(r.whole)} | ${fmtStat(r.inproc)} | ${r.rt} | ${r.runs} |`);
  L.push('', `![time vs number of services](${chartLink})`, '');
  L.push(`Chart: [${chartLink}](${chartLink}) — both axes logarithmic.`, '');
  L.push('### Where tor-reconcile\'s in-process time goes (median per phase)', '');
  L.push('applyPlan is split by the batches it reports: generate and persist the keys; the pipelined ADD_ONION batch; other steps (SETCONF, mkdir…); then writing the state file and the verifying re-read.', '');
  L.push('| workload | transport | N | loadSpec | connect | readLiveState | computePlan | applyPlan | ↳ keys | ↳ ADD_ONION | ↳ other steps | ↳ records + verify | total |', '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const r of rows.filter((x) => x.tool === 'tor-reconcile library')) {
    const ph = results.get(key(r.workload, r.transport, r.n, r.tool)).phases;
    const p = (name) => (ph.some((x) => x[name] !== undefined) ? fmt(median(ph.map((x) => x[name] ?? 0))) : '—');
    const a = (pick) => (ph.some((x) => x.apply) ? fmt(median(ph.map((x) => (x.apply ? pick(x.apply) : 0)))) : '—');
    const other = (ap) => Object.entries(ap).filter(([k]) => !['generate-key', 'add-onion', 'verify+records'].includes(k)).reduce((acc, [, v]) => acc + v, 0);
    L.push(`| ${cell(r.what)} | ${r.transport} | ${r.n.toLocaleString('en')} | ${p('loadSpec')} | ${p('connect')} | ${p('readLiveState')} | ${p('computePlan')} | ${p('applyPlan')} | ${a((x) => x['generate-key'] ?? 0)} | ${a((x) => x['add-onion'] ?? 0)} | ${a(other)} | ${a((x) => x['verify+records'] ?? 0)} | ${fmt(r.inproc.median)} |`);
  }
  L.push('', '### Workload 3: the options', '');
  L.push(`${benchOptions.length} options found automatically on a scratch tor (DisableNetwork 1): Boolean, Integer and TimeInterval options from \`GETINFO config/names\`, not immutable, not control/auth/authority/bridge/testing options, each kept only if tor accepted it in one SETCONF with the others and read it back unchanged (${discovery?.tried ?? '?'} tried of ${discovery?.candidates ?? '?'} candidates). Values (each differs from the default):`, '');
  L.push('`' + benchOptions.map((o) => `${o.name}=${o.value}`).join('` `') + '`', '');
  L.push('### Watch mode (workloads 4 and 7)', '');
  if (watch?.drift) {
    L.push(`- **Workload 4 — drift revert latency** (bench/watch.mjs, on a tor of its own, debounce 0; another controller's SETCONF reply → the watcher's revert seen as CONF_CHANGED): p50 **${fmt(watch.drift.p50)} ms**, p99 **${fmt(watch.drift.p99)} ms**, max ${fmt(watch.drift.max)} ms over ${watch.drift.n.toLocaleString('en')} drifts${watch.raw ? `; beside one SETCONF round trip on that tor (the library client, unchanged value): p50 ${fmt(watch.raw.p50)} ms, p99 ${fmt(watch.raw.p99)} ms` : ''}.`);
    L.push('- The raw floor measured by run.mjs on the main tor — one SETCONF round trip on an open raw connection (a single option toggled between two values, each command sent alone):');
  } else L.push(`- **Workload 4 — drift revert latency in watch mode (p50/p99)**: ${watch ? `bench/watch.mjs exited ${watch.code} without figures (see below)` : 'not measured yet (needs issue #6: watch mode)'}. The floor it stands beside, one raw SETCONF round trip on an open connection (a single option toggled between two values, each command sent alone):`);
  for (const transport of ['unix', 'tcp']) {
    const r = results.get(key('setconf-rt', transport, 1, 'raw floor'));
    if (r) L.push(`  - ${transport === 'unix' ? 'ControlSocket' : 'TCP'}: p50 ${fmt(percentile(r.inproc, 50))} ms, p99 ${fmt(percentile(r.inproc, 99))} ms, min–max ${fmt(Math.min(...r.inproc))}–${fmt(Math.max(...r.inproc))} ms over ${r.inproc.length} round trips (\`SETCONF ${r.option}=…\`)`);
  }
  if (watch?.memory) {
    L.push(`- **Workload 7 — watch-mode memory** (bench/watch.mjs, \`node --expose-gc\`, two GCs before each sample): ${watch.memoryHeader.replace(/:$/, '')}: ${watch.memory.map((m) => `${m.rss.toFixed(1)} / ${m.heap.toFixed(1)}`).join(' → ')} MiB (RSS / heap used)${watch.reconcileCounts ? `; reconciles ok ${watch.reconcileCounts.ok.toLocaleString('en')}, errors ${watch.reconcileCounts.errors}` : ''}.`, '');
  } else L.push(`- **Workload 7 — watch-mode resident memory after 10,000 reconciles**: ${watch ? 'bench/watch.mjs gave no memory figures' : 'not measured yet (needs issue #6: watch mode)'}.`, '');
  if (watch && (watch.code !== 0 || !watch.drift || !watch.memory)) L.push('bench/watch.mjs output:', '', '```', (watch.stdout + watch.stderr).trim().slice(-3000), '```', '');
  L.push('### Workload 5: ns/all parsing', '');
  if (ns?.json?.rows) {
    L.push('- **Workload 5 — `GETINFO ns/all` parsing, 10,000 routers, vs stem** (bench/ns-parse.mjs):', '', '| tool | what | median | min–max |', '|---|---|--:|--:|');
    for (const r of ns.json.rows) L.push(`| ${r.tool} | ${r.what} | ${fmt(r.median)} ${r.unit ?? 'ms'} | ${fmt(r.min)}–${fmt(r.max)} |`);
    L.push('');
  } else if (ns) {
    L.push(`- **Workload 5 — \`GETINFO ns/all\` parsing, tor-reconcile's parser vs stem's on the same synthetic text** (bench/ns-parse.mjs, in-process, exited ${ns.code}):`, '', '```', (ns.stdout + ns.stderr).trim().slice(-4000), '```', '');
  } else L.push('- **Workload 5 — `GETINFO ns/all` parsing, 10,000 routers, vs stem\'s parser**: not measured yet (needs issue #7: TorState and its ns/all parser; run.mjs runs bench/ns-parse.mjs once it exists).', '');
  L.push('## Targets (issue #9)', '');
  L.push('| target | result | figure |', '|---|---|---|');
  for (const t of targets) L.push(`| ${cell(t.name)} | ${t.met === null ? (t.info ? 'for comparison' : 'not measured yet') : t.met ? '**met**' : '**missed**'} | ${cell(t.value)} |`);
  L.push('', '## Run', '');
  L.push('| section | seconds |', '|---|--:|');
  for (const [name, s] of Object.entries(timings)) L.push(`| ${name} | ${s.toFixed(1)} |`);
  L.push('');
  return L.join('\n');
}
