// Issue #16 goal 4: a no-op re-plan in one process beside the time tor needs to answer its read.
// Usage: node bench/lib/replan.mjs SPEC CONTROL COOKIE_FILE RUNS   → one JSON line on stdout.
// The first plan (spec read, connection opened, option table read) is done as the CLI does, untimed. Then,
// RUNS times and interleaved: the re-plan — loadSpec of the unchanged file, readLiveState, computePlan on
// the open connection — and the read floor — the very commands that re-plan sent (taken from the
// connection's command tap), written at once on a raw, already authenticated node:net socket and timed
// until tor's last reply. The tor must already match the spec (the caller applied it).
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { onLines } from './lines.mjs';

const dist = process.env.BENCH_DIST ?? fileURLToPath(new URL('../../dist/', import.meta.url));
const load = (p) => import(pathToFileURL(path.join(dist, p)).href);
const { tableFor } = await load('reconcile/reconcile.js');
const { readLiveState } = await load('reconcile/live.js');
const { computePlan } = await load('reconcile/plan.js');
const { openTarget } = await load('reconcile/target.js');
const { loadSpec, recheckOptions } = await load('spec/index.js');
const { OptionTable } = await load('tor/config/types.js');
const { parseControlAddress } = await load('tor/address.js');

const [spec, control, cookieFile, runsText] = process.argv.slice(2);
const runs = Number(runsText ?? 5);
if (!spec || !control || !cookieFile) {
  console.error('usage: replan.mjs SPEC CONTROL COOKIE_FILE [RUNS]');
  process.exit(64);
}
const now = () => performance.now();

/** One plan on the open connection; `phases` gets the time of each step. */
async function planOnce(client, table, phases = {}) {
  let t = now();
  const lap = (name) => {
    const n = now();
    phases[name] = n - t;
    t = n;
  };
  let { state } = await loadSpec([spec]);
  if (table !== OptionTable.bundled()) ({ state } = recheckOptions(state, table));
  lap('loadSpec');
  const ctx = { table, target: control, ...(process.getuid ? { uid: process.getuid() } : {}) };
  const live = await readLiveState(client, state);
  lap('readLiveState');
  const plan = computePlan(state, live, ctx);
  lap('computePlan');
  return plan;
}

const t0 = now();
const { state: first } = await loadSpec([spec]);
const target = await openTarget(first, { control, start: false });
const table = await tableFor(target.client);
const firstPlan = await planOnce(target.client, table);
const firstMs = now() - t0;
if (firstPlan.steps.length) throw new Error(`not a no-op: the first plan has ${firstPlan.steps.length} steps`);

/** A raw connection: AUTHENTICATE with the cookie, then `send(commands)` resolves when every reply is in. */
async function rawConnection() {
  const address = parseControlAddress(control);
  const sock = address.type === 'unix' ? net.connect(address.path) : net.connect(address.port, address.host);
  await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  sock.setNoDelay(true);
  let inData = false;
  let waiting = 0;
  let done;
  onLines(sock, (line) => {
    // A data block (`250+…` up to a lone `.`) may hold anything, even lines that look like a final reply.
    if (inData) inData = line !== '.';
    else if (/^\d{3}\+/.test(line)) inData = true;
    else if (/^\d{3} /.test(line) && --waiting === 0) done();
  });
  const send = (commands) =>
    new Promise((resolve) => {
      waiting = commands.length;
      done = resolve;
      sock.write(commands.join(''));
    });
  await send([`AUTHENTICATE ${(await readFile(cookieFile)).toString('hex')}\r\n`]);
  return { send, close: () => sock.destroy() };
}

const raw = await rawConnection();
const replan = [];
const read = [];
const phases = [];
let commands = [];
for (let r = 0; r < runs; r++) {
  const sent = [];
  const untap = target.client.connection.onCommand((c) => sent.push(c.wire));
  const ph = {};
  let t = now();
  const plan = await planOnce(target.client, table, ph);
  replan.push(now() - t);
  phases.push(ph);
  untap();
  if (plan.steps.length) throw new Error(`re-plan ${r} is not a no-op: ${plan.steps.length} steps`);
  commands = sent;
  t = now();
  await raw.send(sent);
  read.push(now() - t);
}
raw.close();
await target.client.close();
console.log(JSON.stringify({ first: firstMs, replan, read, phases, commands: commands.map((c) => c.split(/\s/)[0] + (c.startsWith('GETINFO') || c.startsWith('GETCONF') ? ` ${c.split(/\s/)[1] ?? ''}` : '')), services: first.onionServices.length }));
