// How long validating a large spec takes: loadSpec in-process and the whole `tor-reconcile validate` process,
// on generated specs of N onion services (half filesystem, half ephemeral, each with two ports, per-service
// options and an authorized client), once without and once with an address pin on every filesystem service
// (checking a pin costs a full ed25519 scalar multiplication: tor's torsion check). Issue 3 asks for well
// under a second at N = 1000.
// Run: npm run build && node bench/spec-validate.mjs
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSpec } from '../dist/spec/index.js';
import { generateClientAuthKeyPair, generateServiceKey } from '../dist/tor/onion/index.js';

const N = Number(process.env.N ?? 1000);
const RUNS = Number(process.env.RUNS ?? 7);
const cli = fileURLToPath(new URL('../dist/cli/main.cjs', import.meta.url));

function spec(pinned) {
  const lines = [
    'version: 1',
    'tor: { control: unix:/run/tor/control }',
    'options:',
    '  ExitNodes: ["{de}", "{ch}"]',
    '  MaxCircuitDirtiness: 10 minutes',
    '  SocksPort: ["127.0.0.1:9050 IsolateDestAddr"]',
    'onionServices:',
  ];
  for (let i = 0; i < N; i++) {
    const client = `      - { name: client${i}, publicKey: ${generateClientAuthKeyPair().publicKey} }`;
    const ports = `    ports: [{ port: 80, target: 127.0.0.1:${8000 + (i % 1000)} }, { port: 443, target: "unix:/run/s${i}.sock" }]`;
    if (i % 2 === 0) {
      lines.push(`  - name: fs${i}`, '    type: filesystem', `    directory: ./hs/fs${i}/`, ports, '    options: { HiddenServiceMaxStreams: 100, HiddenServiceNumIntroductionPoints: 5 }');
      lines.push('    authorizedClients:', client);
      if (pinned) lines.push(`    address: ${generateServiceKey().address}.onion`);
    } else {
      lines.push(`  - name: eph${i}`, '    type: ephemeral', '    key: { generate: true }', ports, '    maxStreams: 10', '    authorizedClients:', client);
    }
  }
  return `${lines.join('\n')}\n`;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (ns) => Number(ns) / 1e6;
const range = (xs) => `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;

async function measure(label, text, dir) {
  const file = path.join(dir, `${label}.yaml`);
  await writeFile(file, text);
  const loads = [];
  for (let i = 0; i <= RUNS; i++) {
    const t = process.hrtime.bigint();
    const { state } = await loadSpec([file]);
    loads.push(ms(process.hrtime.bigint() - t));
    if (state.onionServices.length !== N) throw new Error(`expected ${N} services, got ${state.onionServices.length}`);
  }
  const processes = [];
  for (let i = 0; i < RUNS; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [cli, 'validate', file], { encoding: 'utf8' });
    processes.push(ms(process.hrtime.bigint() - t));
    if (r.status !== 0) throw new Error(`validate failed (${r.status}): ${r.stderr}`);
  }
  console.log(`${label}: ${text.split('\n').length - 1} lines, ${(text.length / 1024).toFixed(0)} KiB`);
  // The first in-process run pays for JIT warm-up, as the CLI's single run does.
  console.log(`  loadSpec, first run in this process   ${loads[0].toFixed(0)} ms`);
  console.log(`  loadSpec, warm                        ${range(loads.slice(1))}`);
  console.log(`  node dist/cli/main.cjs validate        ${range(processes)}`);
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'spec-bench-'));
try {
  const t = process.hrtime.bigint();
  spawnSync(process.execPath, ['-e', '0']);
  console.log(`${N} onion services, ${RUNS} runs each; starting node alone takes ${ms(process.hrtime.bigint() - t).toFixed(0)} ms`);
  await measure('no-pins', spec(false), dir);
  await measure(`${Math.ceil(N / 2)}-pins`, spec(true), dir);
} finally {
  await rm(dir, { recursive: true, force: true });
}
