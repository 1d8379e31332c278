// Pipelined vs one-at-a-time throughput of the control client on one connection, beside a raw-socket floor
// that writes every command at once and only counts replies. Run: npm run build && node bench/control-throughput.mjs
import net from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connect, launch } from '../dist/index.js';
import { offlineLaunch } from '../test/helpers/offline.mjs';
import { onLines } from './lib/lines.mjs';

const N = Number(process.env.N ?? 1000);
const RUNS = Number(process.env.RUNS ?? 5);

const dir = await mkdtemp(path.join(os.tmpdir(), 'tr-bench-'));
const portFile = path.join(dir, 'tcp-port');
const tor = await launch(
  offlineLaunch({
    dataDirectory: dir,
    options: { DisableNetwork: 1, SocksPort: 0, ControlPort: 'auto', ControlPortWriteToFile: portFile },
  }),
);
const tcp = (await readFile(portFile, 'utf8')).match(/PORT=([\d.]+):(\d+)/);
const transports = {
  unix: tor.controlAddress,
  tcp: { type: 'tcp', host: tcp[1], port: Number(tcp[2]) },
};
const cookieFile = path.join(dir, 'control_auth_cookie');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** Median of RUNS timings of `fn`; `after` (untimed) restores the state between runs. */
async function measure(fn, after = async () => {}) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const t = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    await after();
  }
  return { median: median(times), min: Math.min(...times), max: Math.max(...times) };
}

/** The floor: one write of N commands on a raw socket, wait for N final reply lines. */
async function rawFloor(address, line, finalPrefix) {
  const cookie = await readFile(cookieFile);
  const sock = address.type === 'unix' ? net.connect(address.path) : net.connect(address.port, address.host);
  await new Promise((r) => sock.once('connect', r));
  sock.setNoDelay(true);
  let waiting = 1;
  let done;
  onLines(sock, (l) => {
    if ((l.startsWith(finalPrefix) || l === '250 OK') && --waiting === 0) done();
  });
  const auth = new Promise((r) => (done = r));
  sock.write(`AUTHENTICATE ${cookie.toString('hex')}\r\n`);
  await auth;
  const t = process.hrtime.bigint();
  waiting = N;
  const finished = new Promise((r) => (done = r));
  sock.write(line.repeat(N));
  await finished;
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  sock.destroy();
  return ms;
}

async function cleanupOnions(client) {
  const detached = (await client.getInfo('onions/detached')).split('\n').filter(Boolean);
  await Promise.all(detached.map((id) => client.delOnion(id)));
}

const rows = [];
for (const [name, address] of Object.entries(transports)) {
  const client = await connect({ control: address, cookieFile });
  const getinfoPipelined = await measure(() => Promise.all(Array.from({ length: N }, () => client.getInfo('version'))));
  const getinfoSerial = await measure(async () => {
    for (let i = 0; i < N; i++) await client.getInfo('version');
  });
  const add = () => client.addOnion({ key: 'NEW:ED25519-V3', ports: [{ port: 80 }], flags: ['Detach', 'DiscardPK'] });
  const cleanup = () => cleanupOnions(client);
  const addPipelined = await measure(() => Promise.all(Array.from({ length: N }, add)), cleanup);
  const addSerial = await measure(async () => {
    for (let i = 0; i < N; i++) await add();
  }, cleanup);
  const floorGetinfo = [];
  const floorAdd = [];
  for (let i = 0; i < RUNS; i++) {
    floorGetinfo.push(await rawFloor(address, 'GETINFO version\r\n', '250 OK'));
    floorAdd.push(await rawFloor(address, 'ADD_ONION NEW:ED25519-V3 Flags=Detach,DiscardPK Port=80\r\n', '250 OK'));
    await cleanupOnions(client);
  }
  rows.push([name, 'GETINFO version', getinfoPipelined.median, getinfoSerial.median, median(floorGetinfo)]);
  rows.push([name, 'ADD_ONION NEW:ED25519-V3 Flags=Detach,DiscardPK', addPipelined.median, addSerial.median, median(floorAdd)]);
  await client.close();
}
await tor.stop();
await rm(dir, { recursive: true, force: true });

const f = (ms) => (ms === null ? '—' : `${ms.toFixed(1)} ms (${((ms / N) * 1000).toFixed(1)} µs/cmd)`);
console.log(`tor ${tor.client.version}, node ${process.version}, ${N} commands, median of ${RUNS} runs`);
console.log(['transport', 'workload', 'tor-reconcile pipelined', 'tor-reconcile one at a time', 'raw floor'].join(' | '));
for (const [t, w, p, s, fl] of rows) console.log([t, w, f(p), f(s), f(fl)].join(' | '));
